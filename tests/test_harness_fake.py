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

    def step(self, a, read=True):
        self.x += float(a[0])
        ok = self.x > 0.05
        obs = self._obs() if read else dict(self._obs(), image=None)  # as the real env: unread, not rendered
        return obs, 0.0, False, False, {"success": ok, "is_src_obj_grasped": ok, "consecutive_grasp": False}


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


class Recording(FakeEnv):
    def reset(self, seed=None, options=None):
        self.executed, self.reads = [], []
        return super().reset(seed, options)

    def step(self, a, read=True):
        self.executed.append(float(a[0]))
        self.reads.append(read)
        return super().step(a, read)


def test_chunks_run_in_order_and_only_read_frames_render():
    """Distinct rows: a reversed or shuffled chunk fails. The env is asked to render exactly the frames the
    policy reads (the step that empties a chunk, except the last step), and the policy never sees an
    unrendered image; with frames recorded every step renders."""
    seen = []

    class Chunker(Policy):
        def act(self, obs):
            assert obs["image"] is not None
            seen.append(len(seen))
            return np.array([[0.001 * (1 + i + 4 * (len(seen) - 1)), 0, 0, 0, 0, 0, 1] for i in range(4)], np.float32)

    env = Recording()
    run_episode(env, Chunker(), 0, 0)
    assert np.allclose(env.executed, [0.001 * (1 + i + 4 * c) for c in range(3) for i in range(4)][:10])
    assert env.reads == [t % 4 == 3 and t < 9 for t in range(10)]
    frames = []
    run_episode(env, Chunker(), 0, 0, frames=frames)
    assert all(env.reads) and len(frames) == 11 and all(f is not None for f in frames)


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


# -- batched rollout (several episodes in lockstep) -------------------------------------------
class EpisodeFakeEnv(FakeEnv):
    """Like FakeEnv, but the layout (episode id) sets the start, and the image shows the position."""

    def reset(self, seed=None, options=None):
        self.x = -0.01 * int((options or {}).get("episode_id", 0))
        return self._obs(), {}

    def _obs(self):
        img = np.full((8, 8, 3), int(np.clip(128 + 1000 * self.x, 0, 255)), np.uint8)
        return {"image": img, "instruction": self.instruction, "state": np.array([self.x] * 7, np.float32)}


def _records_without_time(rs):
    return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in rs]


def test_batched_rollout_equals_one_episode_at_a_time():
    from lapa_bench.rollout import EnvList, run_batch

    def chunky(t):  # chunks of 3, and a NaN in episode-specific places via the step counter
        return np.tile(push(t), (3, 1))

    items = [(0, 0), (3, 0), (5, 1), (9, 2)]
    one = [run_episode(EpisodeFakeEnv(), Scripted(chunky), e, s) for e, s in items]
    env = EnvList([EpisodeFakeEnv() for _ in items])
    frames = [[], None, [], None]
    batched = run_batch(env, Scripted(chunky), items, frames)
    assert _records_without_time(batched) == _records_without_time(one)
    assert [r["success_once"] for r in batched] == [True, True, False, False]  # the layouts differ
    assert len(frames[0]) == 11 and frames[1] is None
    with pytest.raises(ValueError, match="2 episodes for an env with 4 scenes"):
        run_batch(env, Scripted(chunky), items[:2])


def test_batched_errors_end_only_their_episode():
    from lapa_bench.rollout import EnvList, run_batch

    class FailsOnLayout(Policy):
        def reset(self, instruction, seed=None, context=None):
            self.ep, self.t = context["episode_id"], 0
            if self.ep == 2:
                raise RuntimeError("no model for this layout")

        def act(self, obs):
            self.t += 1
            return np.full(7, np.nan) if self.ep == 1 and self.t == 4 else push(self.t)

    items = [(0, 0), (1, 0), (2, 0)]
    recs = run_batch(EnvList([EpisodeFakeEnv() for _ in items]), FailsOnLayout(), items)
    assert recs[0]["error"] is None and recs[0]["steps"] == 10 and recs[0]["success_at_end"]
    assert "NaN" in recs[1]["error"] and recs[1]["steps"] == 3 and not recs[1]["success_once"]
    assert "policy.reset raised RuntimeError: no model for this layout" in recs[2]["error"]
    assert recs[2]["steps"] == 0
    assert _records_without_time(recs) == _records_without_time(
        [run_episode(EpisodeFakeEnv(), FailsOnLayout(), e, s) for e, s in items])


@pytest.mark.parametrize("name, config, forward, passes", [
    ("bc", dict(image_size=32, width=8, depth=2, hidden=32, chunk=4, execute=2), "_predict", 5),
    ("bc", dict(image_size=32, width=8, depth=2, hidden=32, chunk=4, ensemble=0.01), "_predict", 10),
    ("unipi", dict(image_size=16, plan_frames=3, replan_every=2, width=32, text_dim=16, sample_steps=2), "_plan", 5),
])
def test_a_batched_learned_policy_matches_its_looped_self(name, config, forward, passes):
    """One forward pass for all episodes (act_batch) == the policy episode by episode (UniPi: each
    episode's noise from its own seed, as alone)."""
    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import EnvList, run_batch

    policy = make_policy(name, **config)
    items = [(0, 0), (2, 0), (4, 1)]
    looped, actions = [], {}
    for e, s in items:
        looped.append(run_episode(EpisodeFakeEnv(), policy, e, s,
                                  on_step=lambda obs, a, e=e: actions.setdefault(e, []).append(a.copy())))
    calls = []
    inner = getattr(policy, forward)
    setattr(policy, forward, lambda *a: calls.append(len(a[0])) or inner(*a))
    batched_actions = {}
    batched = run_batch(EnvList([EpisodeFakeEnv() for _ in items]), policy, items,
                        on_step=lambda b, obs, a: batched_actions.setdefault(items[b][0], []).append(a.copy()))
    assert _records_without_time(batched) == _records_without_time(looped)
    for e, _ in items:
        np.testing.assert_allclose(np.array(batched_actions[e]), np.array(actions[e]), rtol=1e-4, atol=1e-6)
    # 10 steps, chunks executing 2: 5 forward passes, each for all 3 episodes (ensembling: one per step)
    assert calls == [3] * passes


def test_temporal_ensembling_averages_the_overlapping_chunks():
    """ensemble=m: at step t the action is the exp(-m i)-weighted mean (i = 0 the oldest) of what the chunks
    of steps t-3..t predicted for t; the gripper is the sign of the mean; episodes keep their own history."""
    from lapa_bench.policy import make_policy

    policy = make_policy("bc", image_size=32, width=8, depth=2, hidden=32, chunk=4, ensemble=0.5)
    step = {0: 0, 1: 0}

    def predict(observations, slots):  # the chunk issued at step t predicts dx = 10 t + k for step t + k
        out = []
        for o in observations:
            b = int(o["state"][0])
            t = step[b]
            step[b] += 1
            c = np.zeros((4, 7), np.float32)
            c[:, 0] = [(10 * t + k) * 1e-3 for k in range(4)]
            c[:, 6] = [1, -1, -1, 1] if t == 0 else 1
            out.append(c)
        return np.stack(out)

    policy._predict = predict
    policy.reset_batch(["a", "b"], [0, 0], [{}, {}])
    obs = [{"image": np.zeros((32, 32, 3), np.uint8), "instruction": "a", "state": np.full(7, b, np.float32)}
           for b in (0, 1)]
    got = [policy.act_batch(obs, [0, 1]) for _ in range(5)]
    assert all(a.shape == (1, 7) for g in got for a in g)
    for t in range(5):
        ages = range(min(t, 3), -1, -1)  # oldest first: the chunk issued at step t - age, at index age
        preds = np.array([10 * (t - age) + age for age in ages]) * 1e-3
        w = np.exp(-0.5 * np.arange(len(preds)))
        np.testing.assert_allclose(got[t][0][0, 0], (w * preds).sum() / w.sum(), rtol=1e-5)
        np.testing.assert_allclose(got[t][1][0, 0], got[t][0][0, 0])  # slot 1 ran the same steps, apart
    # the gripper at step 1: chunk 0 said -1 (weight 1), chunk 1 said +1 (weight e^-0.5): closed wins
    assert got[1][0][0, 6] == -1.0 and got[4][0][0, 6] == 1.0
    with pytest.raises(Exception, match="needs execute 1"):
        make_policy("bc", chunk=4, execute=2, ensemble=0.01)


def test_batches_keep_tasks_apart():
    from lapa_bench.app.evaluate import batches

    items = plan(["carrot", "spoon"], 3, [0, 1])  # 6 per task
    b = batches(items, 4)
    assert [len(x) for x in b] == [4, 2, 4, 2] and all(len({it[0] for it in x}) == 1 for x in b)
    assert sum(b, []) == items


@pytest.mark.parametrize("rec, lifted, held, outcome", [
    (dict(error="x", success_at_end=False, success_once=True, grasped=True), True, True, "error"),
    (dict(error=None, success_at_end=True, success_once=True, grasped=True), True, False, "success"),
    (dict(error=None, success_at_end=False, success_once=True, grasped=True), True, True, "success_lost"),
    (dict(error=None, success_at_end=False, success_once=False, grasped=False), False, False, "never_grasped"),
    (dict(error=None, success_at_end=False, success_once=False, grasped=True), False, True, "not_lifted"),
    (dict(error=None, success_at_end=False, success_once=False, grasped=True), True, True, "held_off_target"),
    (dict(error=None, success_at_end=False, success_once=False, grasped=True), True, False, "released_off_target"),
    (dict(error=None, success_at_end=False, success_once=False, grasped=True), None, True, "grasped_no_success"),
])
def test_outcome_names_why_an_episode_ended(rec, lifted, held, outcome):
    from lapa_bench.rollout import OUTCOMES, classify_outcome

    assert classify_outcome(rec, lifted, held) == outcome and outcome in OUTCOMES


def test_records_carry_an_outcome_even_without_privileged_state():
    ok = run_episode(FakeEnv(), Scripted(push), 0, 0)
    idle = run_episode(FakeEnv(), Scripted(lambda t: np.zeros(7, np.float32)), 0, 0)
    bad = run_episode(FakeEnv(), Scripted(lambda t: np.zeros(5)), 0, 0)
    assert (ok["outcome"], idle["outcome"], bad["outcome"]) == ("success", "never_grasped", "error")
