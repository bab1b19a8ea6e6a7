"""The golden regression test of the learned path: a committed checkpoint (the comparison's first cell,
`results/mini/scratch/n25_s0`, the 64 px `scratch` recipe) on SIMPLER layouts where its committed evaluation
records say it succeeds and fails. It guards preprocessing, normalization, chunking, the commanded state and
rendering against silent regressions: the outcomes must be those of the records (same thread count as the run
that wrote them), one episode at a time and two in lockstep."""
import json
from pathlib import Path

import pytest

from conftest import requires_sim

ROOT = Path(__file__).resolve().parents[1]
CELL = ROOT / "results" / "mini" / "scratch" / "n25_s0"
RECORDS = ROOT / "results" / "mini" / "eval" / "scratch_25" / "task_seed_0"
# (task, episode id): spoon 3 and 6 succeed, spoon 5 and carrot 2 grasp without lifting, carrot 0 never grasps
LAYOUTS = [("PutSpoonOnTableClothInScene-v1", 3), ("PutSpoonOnTableClothInScene-v1", 6),
           ("PutSpoonOnTableClothInScene-v1", 5), ("PutCarrotOnPlateInScene-v1", 2), ("PutCarrotOnPlateInScene-v1", 0)]


def _expected():
    recs = {(r["task"], r["episode_id"]): r for r in map(json.loads, (RECORDS / "records.jsonl").read_text().splitlines())}
    return [recs[k] for k in LAYOUTS]


def test_the_golden_records_are_what_the_test_says():
    exp = _expected()
    assert [r["outcome"] for r in exp] == ["success", "success", "not_lifted", "not_lifted", "never_grasped"]
    assert json.loads((RECORDS / "manifest.json").read_text())["torch_threads"] == 1


@requires_sim
@pytest.mark.parametrize("num_envs", [1, 2])
def test_the_committed_checkpoint_keeps_its_outcomes(num_envs):
    import torch

    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import run_batch
    from lapa_bench.tasks import get_task, make_env

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the run that wrote the records
    try:
        policy = make_policy("scratch", checkpoint=str(CELL), device="cpu")
        got = []
        for task in dict.fromkeys(t for t, _ in LAYOUTS):
            ids = [e for t, e in LAYOUTS if t == task]
            env = make_env(get_task(task), num_envs=num_envs, backend="cpu")
            try:
                for i in range(0, len(ids), num_envs):
                    batch = ids[i:i + num_envs]
                    items = [(e, 0) for e in batch] + [(batch[-1], 0)] * (num_envs - len(batch))
                    got += run_batch(env, policy, items)[:len(batch)]
            finally:
                env.close()
    finally:
        torch.set_num_threads(threads)
    keys = ("success_once", "success_at_end", "grasped", "consecutive_grasp", "steps", "outcome")
    assert [{k: r[k] for k in keys} for r in got] == [{k: r[k] for k in keys} for r in _expected()]


@requires_sim
def test_the_committed_checkpoint_in_half_precision_keeps_its_outcomes(tmp_path):
    """`lapa-bench checkpoint half` stores float16 weights that load back into the float32 model: the golden
    checkpoint converted so still succeeds and fails where its records say (a success and a miss)."""
    import shutil

    import torch

    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import run_batch
    from lapa_bench.training.checkpoint import to_half
    from lapa_bench.tasks import get_task, make_env

    for f in CELL.iterdir():
        if f.is_file() and (f.suffix == ".safetensors" or f.name.startswith(("config", "tokenizer"))):
            shutil.copy2(f, tmp_path / f.name)
    assert to_half(tmp_path)["converted"] > 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        policy = make_policy("scratch", checkpoint=str(tmp_path), device="cpu")
        got = []
        for task, episode in (LAYOUTS[0], LAYOUTS[4]):
            env = make_env(get_task(task), num_envs=1, backend="cpu")
            try:
                got += run_batch(env, policy, [(episode, 0)])
            finally:
                env.close()
    finally:
        torch.set_num_threads(threads)
    exp = _expected()
    assert [(r["outcome"], r["success_once"]) for r in got] == [(exp[i]["outcome"], exp[i]["success_once"])
                                                                for i in (0, 4)]
