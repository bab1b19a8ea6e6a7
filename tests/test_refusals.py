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
