"""Bad input stops before any work with one line that names the problem and the fix (no traceback)."""
import json
from pathlib import Path

import pytest

from conftest import tiny_dataset
from lapa_bench.app.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "configs" / "quickstart.yaml")
MINI = str(ROOT / "configs" / "mini.yaml")


def _refused(argv, capsys, *needles):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
    return err


@pytest.mark.parametrize("argv, needles", [
    (["pipeline", QUICK, "--plan", "--eval.num_envs", "0"], ["eval.num_envs 0: must be >= 1"]),
    (["pipeline", QUICK, "--plan", "--eval.seeds", "[-1]"], ["eval.seeds [-1]", ">= 0"]),
    (["pipeline", QUICK, "--plan", "--workers", "0"], ["workers 0"]),
    (["pipeline", MINI, "--plan", "--demos_per_task", "[10, 10]", "--main_size", "10"], ["names a size twice"]),
    (["pipeline", QUICK, "--plan", "--plugins", "[/no/such/dir]"], ["no such file or folder"]),
    (["pipeline", QUICK, "--plan", "--plugins", "[no_such_module_x]"], ["no module 'no_such_module_x'"]),
    (["pipeline", MINI, "--plan", "--cells", "lapa/n7/s0"], ["unknown cell(s) ['lapa/n7/s0']", "scratch/n25/s0"]),
    (["eval", "--policy", "scratch", "--tasks", "carrot", "--episodes", "1", "--out", "/tmp/x"],
     ["learned policy: give --checkpoint DIR"]),
    (["laq", "sweep", "--videos", "x", "--data", "x", "--out", "x", "--grid", '{"frame_gap": ["a"]}'], ["is not a number"]),
    (["laq", "sweep", "--videos", "x", "--data", "x", "--out", "x", "--grid", '{"codebook_size": [-4]}'], ["must be > 0"]),
])
def test_bad_values_are_refused_before_work(argv, needles, capsys):
    _refused(argv, capsys, *needles)


def test_bad_yaml_files(tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "broken.yaml").write_text("demos: [1,\n")
    _refused(["pipeline", str(tmp_path / "empty.yaml"), "--plan"], capsys, "is empty", "write `{}`")
    _refused(["pipeline", str(tmp_path / "broken.yaml"), "--plan"], capsys, "not valid YAML at line 2")


def test_gpu_backend_without_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    out = tmp_path / "run"
    _refused(["eval", "--policy", "zero", "--backend", "gpu", "--tasks", "carrot", "--episodes", "1", "--out", str(out)],
             capsys, "backend gpu needs CUDA", "--backend cpu")
    assert not out.exists()  # no manifest left behind to block the folder


def test_data_subset_refusals(tmp_path, capsys):
    ds = tiny_dataset(tmp_path / "ds" / "carrot", episodes=2).parent
    _refused(["data", "subset", str(ds), str(ds / "inside"), "--episodes", "1"], capsys, "would overlap its source")
    _refused(["data", "subset", str(ds), str(tmp_path / "sub"), "--episodes", "50"], capsys,
             "carrot (2)", "give --episodes 2 or less")
    assert main(["data", "subset", str(ds), str(tmp_path / "sub"), "--episodes", "1"]) == 0


def test_truncated_weights(tmp_path):
    from lapa_bench.training import checkpoint

    import torch

    m = torch.nn.Linear(3, 2)
    checkpoint.save_weights(m, tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="incomplete or damaged"):
        checkpoint.load_weights(torch.nn.Linear(3, 2), tmp_path)


def test_collect_resume_refuses_another_image_size_or_seed(tmp_path):
    from lapa_bench.app.collect import CollectConfig, _check_resume

    meta = tmp_path / "carrot" / "meta"
    meta.mkdir(parents=True)
    (meta / "info.json").write_text(json.dumps({
        "features": {"observation.images.image": {"shape": [128, 128, 3]}},
        "lapa_bench": {"noise": 0.002, "dart": 0.0, "yaw_jitter": 180.0, "seed": 0, "keep_failures": False}}))
    cfg = CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path), image_size=(128, 128), seed=0)
    _check_resume(tmp_path / "carrot", cfg)  # the same settings: resumes
    with pytest.raises(ValueError, match="holds frames of 128x128.*--image-size 64x64"):
        _check_resume(tmp_path / "carrot", CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path),
                                                         image_size=(64, 64), seed=0))
    with pytest.raises(ValueError, match="collected with seed 0"):
        _check_resume(tmp_path / "carrot", CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path),
                                                         image_size=(128, 128), seed=3))


# -- documented commands that run no simulator ------------------------------------------------
def test_print_config_loads_back(tmp_path, capsys):
    """`METHOD train --print-config` prints YAML that `--config` reads back to the same resolved config."""
    capsys.readouterr()
    assert main(["scratch", "train", "--data", "x", "--out", "y", "--model.preset", "small", "--finetune.steps", "7",
                 "--print-config"]) == 0
    first = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(first)
    assert main(["scratch", "train", "--data", "x", "--out", "y", "--config", str(tmp_path / "c.yaml"),
                 "--print-config"]) == 0
    assert capsys.readouterr().out == first and "steps: 7" in first


def test_report_compare_to_and_data_resize(tmp_path, capsys):
    from test_report import _write_run

    a = [("PutCarrotOnPlateInScene-v1", i < 3) for i in range(4)]
    _write_run(tmp_path / "a", "pol_a", a)
    _write_run(tmp_path / "b", "pol_b", [(t, False) for t, _ in a])
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "t"),
                 "--compare-to", "pol_b"]) == 0
    assert "| pol_a | +75.0 [" in (tmp_path / "t" / "table.md").read_text()
    _refused(["report", str(tmp_path / "a"), "--compare-to", "nobody"], capsys, "compare to 'nobody'")
    ds = tiny_dataset(tmp_path / "ds" / "carrot", episodes=2, size=32).parent
    assert main(["data", "resize", str(ds), str(tmp_path / "small"), "--size", "16"]) == 0
    from lapa_bench.data.lerobot import open_datasets

    assert open_datasets(tmp_path / "small")[0].image_size() == (16, 16)


def test_interrupt_exits_130(monkeypatch, capsys):
    from lapa_bench.app import cli

    def boom(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "tasks", boom)
    assert main(["tasks"]) == 130
    assert "re-run the same command to resume" in capsys.readouterr().err


def test_a_user_error_is_one_line_and_a_bug_shows_its_traceback(monkeypatch, capsys):
    """The CLI catches the project's own user-error type only (lapa_bench.errors): a bad request prints its
    message and exits 2; any other exception (a bug, even a ValueError from inside) propagates with its
    traceback instead of passing for a user error."""
    from lapa_bench.app import cli
    from lapa_bench.errors import UnknownName, UserError

    assert cli.main(["eval", "--policy", "no_such_policy", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_such_policy" in err and "Traceback" not in err
    assert issubclass(UnknownName, KeyError) and issubclass(UserError, ValueError)

    def bug(args):
        raise ValueError("an internal invariant broke")

    monkeypatch.setitem(cli.COMMANDS, "policies", bug)
    with pytest.raises(ValueError, match="internal invariant"):
        cli.main(["policies"])
