"""`lapa-bench pipeline` (config validation, a micro end-to-end run that a rerun skips) and
`lapa-bench laq inspect` (atlas, statistics, HTML page)."""
import json

import pytest
import yaml

from conftest import requires_sim
from test_lapa_vla import _tiny_dataset, micro


def test_pipeline_config_validation(tmp_path):
    from lapa_bench.pipeline import PipelineConfig

    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "lapa": {"finetune_steps": 5}}))
    cfg = PipelineConfig.from_yaml(p)
    assert cfg.lapa["finetune_steps"] == 5 and cfg.lapa["preset"] == "tiny"  # sections merge into defaults
    p.write_text(yaml.safe_dump({"name": "x", "evals": {}}))
    with pytest.raises(ValueError, match="unknown key"):
        PipelineConfig.from_yaml(p)
    p.write_text(yaml.safe_dump({"name": "x", "baselines": ["gato"]}))
    with pytest.raises(ValueError, match="unknown baseline"):
        PipelineConfig.from_yaml(p)
    for preset in ("configs/quickstart.yaml", "configs/mini.yaml"):
        assert PipelineConfig.from_yaml(preset).name in preset


@requires_sim
def test_pipeline_micro_run_then_cached(tmp_path, capsys):
    from lapa_bench.cli import main

    over = {k: v for k, v in micro().to_dict().items()
            if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins")}
    laq = dict(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
               code_dim=8)
    cfg = {"name": "micro", "out": str(tmp_path / "run"), "workers": 2,
           "demos": {"tasks": ["carrot"], "episodes": 1, "image_size": [32, 32]},
           "videos": {"tasks": ["carrot"], "episodes": 2, "image_size": [32, 32]},
           "laq": {"steps": 2, "batch_size": 4, "overrides": laq},
           "lapa": {"pretrain_steps": 2, "finetune_steps": 2, "batch_size": 4, "overrides": over},
           "variants": ["bridge"], "baselines": ["scratch"],
           "eval": {"tasks": ["carrot"], "episodes": 1, "seeds": [0], "bounds": ["zero"], "bound_seeds": [1]}}
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert main(["pipeline", str(path), "--until", "train"]) == 0  # e.g. on a GPU machine
    state = json.loads((out / "pipeline.json").read_text())["stages"]
    assert "scratch" in state and not any(k.startswith("eval") for k in state) and not (out / "eval").exists()
    assert "stopped after the 'train' stages" in capsys.readouterr().out
    assert main(["pipeline", str(path)]) == 0  # goes on from there
    table = (out / "report" / "table.csv").read_text()
    assert "lapa" in table and "scratch" in table and "zero" in table
    md = (out / "report" / "table.md").read_text()
    assert md.index("success at any step") < md.index("success at end") < md.index("grasp (ever)")
    zero = [json.loads(x) for f in (out / "eval" / "zero").glob("records*.jsonl") for x in f.read_text().splitlines()]
    assert [r["seed"] for r in zero] == [1]  # bound_seeds
    assert list((out / "eval" / "zero").glob("records.shard-*-of-2.jsonl"))  # eval split over the 2 workers
    state = json.loads((out / "pipeline.json").read_text())["stages"]
    assert {"collect demos", "laq (bridge videos)", "lapa finetune (bridge)", "scratch", "report"} <= set(state)
    capsys.readouterr()
    eval_stage = next(k for k in state if k.startswith("eval"))
    assert main(["pipeline", str(path)]) == 0  # a rerun skips every finished stage
    text = capsys.readouterr().out
    again = json.loads((out / "pipeline.json").read_text())["stages"]
    assert again[eval_stage]["seconds"] >= state[eval_stage]["seconds"]  # a resumed eval adds, never resets
    assert "collect demos: cached" in text and "lapa finetune (bridge): cached" in text and "stage wall times" in text


def test_laq_inspect_writes_atlas_stats_and_html(tmp_path):
    from policies.lapa.configuration_laq import LAQConfig
    from policies.lapa.inspect_laq import direction_label, inspect, mutual_information
    from policies.lapa.modeling_laq import LAQ

    import numpy as np

    assert mutual_information([0, 1, 0, 1], [5, 6, 5, 6]) == pytest.approx(1.0)
    assert mutual_information([0, 1, 0, 1], [5, 5, 6, 6]) == pytest.approx(0.0)
    assert direction_label(np.array([0.0, -0.01, 0.001])) == "-y" and direction_label(np.zeros(7)) == "still"
    ds = _tiny_dataset(tmp_path / "ds", episodes=5)
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
