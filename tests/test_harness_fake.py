"""Harness logic against a pure-numpy fake env (fast). The same paths run on the real
simulator in test_sim.py; this file covers the corner cases cheaply."""
import numpy as np
import pytest

from lapa_bench.app.evaluate import parse_shard, plan
from lapa_bench.rollout import run_episode
from lapa_bench.policy import Policy
from lapa_bench.records import RecordWriter, done_keys, read_records


class FakeTask:
    name, env_id = "fake", "Fake-v0"


class FakeEnv:
    """Succeeds when the accumulated dx exceeds 0.05 (and stays)."""
    task, instruction, max_steps = FakeTask(), "do it", 10

    def reset(self, seed=None, options=None):
        self.x = 0.0
        return self._obs(), {}

    def _obs(self):
        return {"image": np.zeros((4, 4, 3), np.uint8), "instruction": self.instruction,
                "state": np.array([self.x] * 7, np.float32)}

    def step(self, a):
        self.x += float(a[0])
        ok = self.x > 0.05
        return self._obs(), 0.0, False, False, {"success": ok, "is_src_obj_grasped": ok,
                                                 "consecutive_grasp": False}


class Scripted(Policy):
    def __init__(self, fn):
        super().__init__()
        self.fn, self.t = fn, 0

    def reset(self, instruction, seed=None, context=None):
        self.t = 0

    def act(self, obs):
        self.t += 1
        return self.fn(self.t)


def push(t):
    return np.array([0.01, 0, 0, 0, 0, 0, 1], np.float32)


def test_success_and_steps():
    r = run_episode(FakeEnv(), Scripted(push), 0, 0)
    assert r["success_at_end"] and r["success_once"] and r["steps"] == 10 and r["error"] is None


def test_action_chunks_are_executed_in_order():
    calls = []

    def chunk(t):
        calls.append(t)
        return np.tile(push(t), (5, 1))

    r = run_episode(FakeEnv(), Scripted(chunk), 0, 0)
    assert r["steps"] == 10 and len(calls) == 2


@pytest.mark.parametrize("fn, reason", [
    (lambda t: np.full(7, np.nan) if t == 3 else push(t), "NaN"),
    (lambda t: np.zeros(5), "shape"),
    (lambda t: 1 / 0 if t == 8 else push(t), "ZeroDivisionError"),
])
def test_bad_policy_is_a_failed_episode_with_reason(fn, reason):
    r = run_episode(FakeEnv(), Scripted(fn), 0, 0)
    assert not r["success_at_end"] and not r["success_once"]
    assert reason in r["error"]


def test_plan_and_shards_partition_the_work():
    items = plan(["carrot", "spoon"], 3, [0, 1])
    assert len(items) == 12
    shards = [items[i::3] for i in range(3)]
    assert sorted(map(lambda x: (x[0].name, x[1], x[2]), sum(shards, []))) == \
        sorted((t.name, e, s) for t, e, s in items)
    assert parse_shard("2/3") == (1, 3)
    # a task or seed named twice runs once (it used to write duplicate records)
    assert len(plan(["carrot", "carrot", "PutCarrotOnPlateInScene-v1"], 2, [0, 0, 1])) == 4
    for bad in ("0/3", "4/3", "x"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_unknown_task_lists_known():
    with pytest.raises(KeyError, match="carrot"):
        plan(["pour_tea"], 1, [0])
    with pytest.raises(ValueError, match="episodes"):
        plan(["carrot"], 25, [0])


def test_torn_record_is_dropped_and_repaired(tmp_path):
    f = tmp_path / "records.jsonl"
    w = RecordWriter(f)
    w.append({"task": "A", "episode_id": 0, "seed": 0})
    with open(f, "ab") as fh:
        fh.write(b'{"task": "A", "episode_id": 1, "se')  # killed mid-write
    assert done_keys(tmp_path) == {("A", 0, 0)}
    RecordWriter(f).append({"task": "A", "episode_id": 1, "seed": 0})
    assert [r["episode_id"] for r in read_records(tmp_path)] == [0, 1]
