"""`lapa-bench pipeline` (config validation, a micro end-to-end run that a rerun skips) and
`lapa-bench laq inspect` (atlas, statistics, HTML page)."""
import json

import pytest
import yaml

from conftest import micro, requires_sim, tiny_dataset  # noqa: F401


def test_pipeline_config_validation(tmp_path):
    from lapa_bench.config import ConfigError
    from lapa_bench.pipeline.config import PipelineConfig

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "methods": {"scratch": {"finetune": {"steps": 5}}}}))
    cfg = PipelineConfig.from_yaml(p)
    sc = cfg.run_config(next(r for r in cfg.runs if r.method == "scratch"))
    assert sc.finetune.steps == 5 and sc.finetune.lr == 3e-4  # a section merges into the method's own defaults
    assert sc.model.image_size == 64  # the tiny preset, from the method's dataclass
    bad = [({"evals": {}}, "unknown key"), ({"runs": [{"method": "gato"}]}, "unknown training method 'gato'"),
           ({"methods": {"scratch": {"finetune": {"steps": "many"}}}}, "methods.scratch.finetune.steps: expected int"),
           ({"methods": {"scratch": {"finetune": {"stpes": 5}}}}, r"unknown key\(s\) \['stpes'\]; valid keys"),
           ({"eval": {"seeds": [0, "one"]}}, r"eval.seeds\[1\]: expected int"),
           ({"device": "gpu:1"}, "device 'gpu:1' is not valid"),
           ({"runs": [{"method": "laq"}]}, "trains a component, not a policy"),
           ({"runs": [{"method": "scratch"}, {"method": "scratch"}]}, "same label")]
    for raw, msg in bad:
        p.write_text(yaml.safe_dump({"name": "x", **raw}))
        with pytest.raises(ConfigError, match=msg):
            PipelineConfig.from_yaml(p)
    for preset in ("configs/quickstart.yaml", "configs/mini.yaml"):
        assert PipelineConfig.from_yaml(preset).name in preset
    from lapa_bench.pipeline.config import validate

    p.write_text(yaml.safe_dump({"name": "x", "demos": {"dart": 0.005}, "panda": {"dart": 0.005}}))
    cfg = PipelineConfig.from_yaml(p)
    assert cfg.demos.dart == 0.005  # DART recovery noise for the Bridge demonstrations (collect --dart)
    with pytest.raises(ValueError, match="remove panda.dart"):
        validate(cfg)
    p.write_text(yaml.safe_dump({"name": "x", "demos": {"yaw_jitter": 15}, "panda": {"yaw_jitter": 15}}))
    cfg = PipelineConfig.from_yaml(p)
    assert cfg.demos.yaw_jitter == 15  # objects start near an evaluation orientation (collect --yaw-jitter)
    with pytest.raises(ValueError, match="remove panda.yaw_jitter"):
        validate(cfg)


def test_pipeline_overrides_and_backbones_reach_the_model(tmp_path, monkeypatch):
    """YAML sections, per-run config and command-line overrides arrive in the config each method trains
    with, backbones included (they used to be overwritten); the same via `lapa-bench scratch train`."""
    from lapa_bench.app.cli import main
    from lapa_bench.pipeline.config import PipelineConfig
    from lapa_bench.training import registry

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({
        "name": "x", "methods": {"lapa": {"model": {"vision_backbone": "/models/siglip", "language_backbone": "/lm"},
                                          "pretrain": {"lr": 1e-4}}},
        "runs": [{"method": "lapa", "videos": "panda", "config": {"finetune": {"steps": 7}}}, {"method": "scratch"}]}))
    cfg = PipelineConfig.from_yaml(p, overrides={"methods": {"lapa": {"laq": {"model": {"frame_gap": 3}}}}})
    lapa = cfg.run_config(cfg.runs[0])
    assert lapa.model.vision_backbone == "/models/siglip" and lapa.model.language_backbone == "/lm"
    assert (lapa.pretrain.lr, lapa.finetune.steps, lapa.laq.model.frame_gap) == (1e-4, 7, 3)
    assert cfg.runs[0].label == "lapa"  # one lapa run: no corpus suffix
    seen = {}
    monkeypatch.setattr(registry.get_method("scratch"), "train",
                        lambda c, inputs, out, device: seen.update(cfg=c, inputs=inputs, device=device))
    ds = tiny_dataset(tmp_path / "ds", episodes=2)
    assert main(["scratch", "train", "--data", str(ds), "--out", str(tmp_path / "o"), "--device", "cpu",
                 "--model.vision_backbone", "/models/clip", "--finetune.lr", "1e-4", "--model.preset", "full"]) == 0
    c = seen["cfg"]
    assert c.model.vision_backbone == "/models/clip" and c.finetune.lr == 1e-4 and seen["device"] == "cpu"
    assert c.model.image_size == 224 and seen["inputs"].data == [str(ds)]  # the full preset, then the flag
    assert main(["scratch", "train", "--data", str(ds), "--out", "o", "--finetune.steps", "abc"]) == 2
    assert main(["scratch", "train", "--data", str(ds), "--out", "o", "--device", "cuda:x"]) == 2


def test_pipeline_command_line_values_read_as_yaml(tmp_path, capsys):
    """`lapa-bench pipeline C --demos.episodes 25 --demos_per_task '[10, 25]'` types its values as the YAML file
    would (top-level keys used to arrive as strings and be refused); a value that is not YAML is named."""
    from lapa_bench.app.cli import main

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "runs": [{"method": "scratch"}]}))
    assert main(["pipeline", str(p), "--print-config", "--demos.episodes", "25", "--demos_per_task", "[10, 25]",
                 "--main_size", "25", "--train_seeds", "[0, 1]", "--methods.scratch.finetune.steps", "50",
                 "--eval.tasks", "[all]"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["demos"]["episodes"] == 25 and printed["demos_per_task"] == [10, 25]
    assert printed["main_size"] == 25 and printed["train_seeds"] == [0, 1]
    assert printed["methods"]["scratch"]["finetune"]["steps"] == 50 and printed["eval"]["tasks"] == ["all"]
    assert main(["pipeline", str(p), "--print-config", "--demos_per_task", "[10, 25"]) == 2
    assert "demos_per_task" in capsys.readouterr().err
    assert main(["pipeline", str(p), "--print-config", "--compare_to", "lapa"]) == 2
    assert "compare_to 'lapa' is neither a run's label" in capsys.readouterr().err
    assert main(["pipeline", str(p), "--print-config", "--compare_to", "[scratch, lapa]"]) == 2  # each reference checked
    assert "compare_to 'lapa' is neither a run's label" in capsys.readouterr().err
    # --plan: what the run would do, before it does it (counts in tests/test_training_path.py)
    assert main(["pipeline", str(p), "--plan", "--plan-json", str(tmp_path / "plan.json"), "--demos.episodes", "25",
                 "--demos_per_task", "[10, 25]", "--train_seeds", "[0, 1]", "--main_size", "25"]) == 0
    out = capsys.readouterr().out
    assert "3 training stages for 3 policies" in out and "scratch.finetune" in out
    assert json.loads((tmp_path / "plan.json").read_text())["collect"] == [
        {"corpus": "demos", "episodes": 100, "path": None}]


@requires_sim
def test_pipeline_micro_run_then_cached(tmp_path, capsys):
    from lapa_bench.app.cli import main

    over = {k: v for k, v in micro().to_dict().items()
            if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins")}
    laq = dict(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
               code_dim=8)
    stage = {"steps": 2, "batch_size": 4}
    cfg = {"name": "micro", "out": str(tmp_path / "run"), "workers": 2,
           "demos": {"tasks": ["carrot"], "episodes": 1, "image_size": [32, 32]},
           "videos": {"tasks": ["carrot"], "episodes": 2, "image_size": [32, 32]},
           "methods": {"lapa": {"model": over, "laq": {"model": laq, "train": stage}, "pretrain": stage,
                                "finetune": stage},
                       "scratch": {"model": over, "finetune": stage}},
           "runs": [{"method": "lapa"}, {"method": "scratch", "policy_config": {"execute": 1}}], "compare_to": "scratch",
           "eval": {"tasks": ["carrot"], "episodes": 1, "seeds": [0], "bounds": ["zero"], "bound_seeds": [1],
                    "train_layouts": 1, "heldout_episodes": 1}}
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["pipeline", str(path), "--until", "train"]) == 0  # e.g. on a GPU machine
    state = json.loads((out / "pipeline.json").read_text())["stages"]
    assert "scratch" in state and not any(k.startswith("eval") for k in state) and not (out / "eval").exists()
    assert "stopped after the 'train' stages" in capsys.readouterr().out
    assert (out / "lapa" / "laq" / "eval.json").is_file() and (out / "lapa" / "pretrain" / "eval.json").is_file()
    assert main(["pipeline", str(path)]) == 0  # goes on from there
    text = capsys.readouterr().out
    assert "learning check" in text and ("training layouts 0/1" in text or "training layouts 1/1" in text)
    check = json.loads((out / "checks" / "learning_check.json").read_text())
    assert [r["label"] for r in check] == ["lapa", "scratch"] and all("mean_action_error" in r for r in check)
    table = (out / "report" / "table.csv").read_text()
    assert "lapa" in table and "scratch" in table and "zero" in table
    md = (out / "report" / "table.md").read_text()
    assert md.index("success at any step") < md.index("success at end") < md.index("grasp (ever)")
    assert "success at any step: difference to scratch" in md and "\n| lapa | " in md.split("difference to")[1]
    # each cell's compute, stage by stage, in its folder and in the report
    compute = json.loads((out / "scratch" / "compute.json").read_text())["stages"]
    assert [p["stage"] for p in compute][:2] == ["finetune", "training-layout check"] and compute[0]["seconds"] > 0
    assert compute[-1]["stage"] == "SIMPLER evaluation (1 episodes)" and "### Compute per cell" in md
    # a run's rollout settings reach its checks and its evaluations (their identity)
    assert json.loads((out / "checks" / "scratch.json").read_text())["policy_config"] == {"execute": 1}
    assert json.loads((out / "eval" / "scratch" / "manifest.json").read_text())["identity"]["policy_config"] == \
        {"execute": 1}
    assert json.loads((out / "eval" / "lapa" / "manifest.json").read_text())["identity"]["policy_config"] == {}
    # each collection checked by eye and by numbers beside its settings
    check = json.loads((out / "data" / "demos.check.json").read_text())
    assert check["oracle_success"]["carrot"]["successes"] == 1 and (out / "data" / "demos.contact_sheet.png").is_file()
    # the second evaluation, on held-out layouts: its own folders and table, with the differences to scratch
    held = (out / "report" / "heldout" / "table.md").read_text()
    assert "\n| lapa | " in held and "difference to scratch" in held and "new random layouts" in held
    assert json.loads((out / "eval_heldout" / "lapa" / "manifest.json").read_text())["identity"]["layouts"] == 5000
    zero = [json.loads(x) for f in (out / "eval" / "zero").glob("records*.jsonl") for x in f.read_text().splitlines()]
    assert [r["seed"] for r in zero] == [1]  # bound_seeds
    assert list((out / "eval" / "zero").glob("records.shard-*-of-2.jsonl"))  # eval split over the 2 workers
    state = json.loads((out / "pipeline.json").read_text())["stages"]
    assert {"collect demos", "collect videos", "lapa", "scratch", "report"} <= set(state)
    capsys.readouterr()
    eval_stage = next(k for k in state if k.startswith("eval"))
    assert main(["pipeline", str(path)]) == 0  # a rerun skips every finished stage
    text = capsys.readouterr().out
    again = json.loads((out / "pipeline.json").read_text())["stages"]
    assert again[eval_stage]["seconds"] >= state[eval_stage]["seconds"]  # a resumed eval adds, never resets
    assert "collect demos: cached" in text and "lapa: cached" in text and "stage wall times" in text
    # the report alone, from the files (no data needed): the same table; refused once the config asks for other
    # training settings than those that made the evaluated runs
    import shutil

    before = (out / "report" / "table.md").read_text()
    for d in (out / "data").iterdir():
        if d.is_dir():
            shutil.rmtree(d)
    assert main(["pipeline", str(path), "--report"]) == 0
    assert (out / "report" / "table.md").read_text() == before and not any((out / "data").glob("*/"))
    capsys.readouterr()
    assert main(["pipeline", str(path), "--report", "--methods.scratch.finetune.steps", "3"]) != 0
    assert "made with other settings (config.finetune.steps: 2 then, 3 now)" in capsys.readouterr().err


def test_check_table_marks_a_cell_that_fails_its_learning_check(tmp_path):
    """The report's learning-check table: a cell that does not beat its references offline, or succeeds on fewer
    than half of its training layouts, is marked as failing; one without an offline check is judged closed loop."""
    from lapa_bench.pipeline.tables import check_failures, check_table

    assert check_table(tmp_path) == ""
    (tmp_path / "checks").mkdir()
    rows = [{"label": "a", "action_error": 0.15, "mean_action_error": 0.38, "blind_twin_error": 0.18, "learned": True,
             "train_layout_success_once": "34/40"},
            {"label": "b", "action_error": 0.3, "mean_action_error": 0.38, "blind_twin_error": 0.2, "learned": False,
             "train_layout_success_once": "20/40"},
            {"label": "c", "action_error": None, "mean_action_error": None, "blind_twin_error": None, "learned": None,
             "train_layout_success_once": "1/40"},
            {"label": "d", "action_error": 0.15, "mean_action_error": 0.38, "blind_twin_error": 0.18, "learned": True,
             "train_layout_success_once": "35/40", "half": {"float32": "34/40", "float16": "35/40"}}]
    (tmp_path / "checks" / "learning_check.json").write_text(json.dumps(rows))
    lines = {ln.split(" | ")[0][2:]: ln for ln in check_table(tmp_path).splitlines() if ln.startswith("| ")}
    assert lines["a"].endswith("| 34/40 | passes |") and "0.150 / 0.380 / 0.180" in lines["a"]
    assert "**fails**: offline, not below its blind twin |" in lines["b"]  # 20/40 is the bar
    assert "- / - / -" in lines["c"] and "**fails**: succeeds on 1 of its 40 training layouts" in lines["c"]
    assert lines["d"].endswith("| 35/40 (weights in float16; float32: 34/40) | passes |")
    assert [check_failures(r) for r in rows] == [[], ["offline, not below its blind twin"],
                                                 ["succeeds on 1 of its 40 training layouts"], []]  # the console's too


def test_compute_table_counts_a_shared_stage_once():
    from lapa_bench.pipeline.tables import compute_table

    laq = {"stage": "laq (shared by seed 0's cells)", "seconds": 600, "device": "cpu", "shared": "lapa/shared/s0/laq"}
    rows = [{"cell": "lapa/n10/s0", "stages": [laq, {"stage": "finetune", "seconds": 1200, "device": "cuda"}]},
            {"cell": "lapa/n25/s0", "stages": [laq, {"stage": "finetune", "seconds": 1800, "device": "cpu",
                                                    "note": "the last process only"}]},
            {"cell": "lapa/n25/s1", "stages": [{**laq, "shared": "lapa/shared/s1/laq"}]}]
    text = compute_table(rows, {"collect demos": 900})
    assert "Total: 1.2 h for these cells" in text  # 600 + 1200 + 1800 + 600 s: seed 0's LAQ once
    assert "plus 0.2 h collecting their data (collect demos: 15 min)" in text
    assert "| lapa/n25/s0 | finetune * | 30.0 min | cpu |" in text and "| lapa/n10/s0 | finetune | 20.0 min | cuda |" in text
    assert compute_table([]) == ""


def test_laq_inspect_writes_atlas_stats_and_html(tmp_path):
    from lapa_bench.policies.laq.configuration_laq import LAQConfig
    from lapa_bench.policies.laq.inspect_laq import direction_label, inspect, mutual_information
    from lapa_bench.policies.laq.modeling_laq import LAQ

    import numpy as np

    assert mutual_information([0, 1, 0, 1], [5, 6, 5, 6]) == pytest.approx(1.0)
    assert mutual_information([0, 1, 0, 1], [5, 5, 6, 6]) == pytest.approx(0.0)
    assert direction_label(np.array([0.0, -0.01, 0.001])) == "-y" and direction_label(np.zeros(7)) == "still"
    ds = tiny_dataset(tmp_path / "ds", episodes=5)
    LAQ(LAQConfig(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
                  dim_head=16, code_dim=8)).save_pretrained(tmp_path / "laq")
    res = inspect(tmp_path / "laq", [ds], tmp_path / "insp", examples=2)
    for name in ("atlas.png", "usage.png", "quiver.png", "actions.csv", "consistency.json", "index.html"):
        assert (tmp_path / "insp" / name).stat().st_size > 0, name
    page = (tmp_path / "insp" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "Code atlas" in page
    import base64
    import re

    for blob in re.findall(r"base64,([A-Za-z0-9+/=]+)", page):
        assert base64.b64decode(blob)[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) > 1000  # real, non-empty images
    c = json.loads((tmp_path / "insp" / "consistency.json").read_text())
    assert {"perplexity", "probe_r2", "mi_code_task_bits", "mi_code_direction_bits"} <= set(c)
    assert res["codes_used"] >= 1


def test_a_given_demos_folder_must_hold_what_the_cells_are_named_by(tmp_path, capsys):
    """`demos: {path: DIR}` with 3 demonstrations per task: a cell named n10 (the default size, or
    demos_per_task [10]) is refused before anything is written; the sizes it holds are accepted."""
    from lapa_bench.app.cli import main
    from lapa_bench.pipeline.config import PipelineConfig, validate

    demos = tiny_dataset(tmp_path / "demos" / "carrot", episodes=3).parent
    base = {"name": "given", "out": str(tmp_path / "out"), "demos": {"path": str(demos)},
            "runs": [{"method": "scratch"}], "eval": {"bounds": []}}
    for extra, why in (({}, "named by demos.episodes"), ({"demos_per_task": [2, 10]}, "fewer than the 10 per task")):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({**base, **extra}))
        assert main(["pipeline", str(path), "--until", "train"]) == 2
        assert why in capsys.readouterr().err and not (tmp_path / "out").exists()
    validate(PipelineConfig.from_dict({**base, "demos_per_task": [2, 3]}))
    validate(PipelineConfig.from_dict({**base, "demos": {"path": str(demos), "episodes": 3}}))
