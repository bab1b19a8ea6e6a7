"""Scripted demonstration collection on the real simulator: format, disjointness, faithful replay, and
LeRobot's own loader on what was collected."""
import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_sim
from lapa_bench.app.collect import MIN_EVAL_DISTANCE, CollectConfig, check_disjoint, collect, sample_layout
from lapa_bench.data import open_datasets
from lapa_bench.data.inspect import dataset_info
from lapa_bench.app.replay import replay_check

pytestmark = [requires_sim]


def test_sampled_layouts_are_disjoint_from_evaluation(carrot_env):
    eval_xy = carrot_env.evaluation_layouts()
    assert all(v.shape == (24, 2) for v in eval_xy.values())
    rng = np.random.default_rng(0)
    for _ in range(50):
        xyz, quat, check = sample_layout(carrot_env, rng)
        for i, name in enumerate(carrot_env.unwrapped_env.obj_names):
            d = np.linalg.norm(eval_xy[name] - xyz[i, :2], axis=1).min()
            assert d >= MIN_EVAL_DISTANCE
        assert check["disjoint"]
    # and the check itself catches an evaluation layout
    names = carrot_env.unwrapped_env.obj_names
    bad = {n: {"xyz": [*eval_xy[n][3], 0.9]} for n in names}
    assert not check_disjoint(carrot_env, bad)["disjoint"]


REPO = Path(__file__).resolve().parent.parent
# LeRobot's Python: LAPA_LEROBOT_PYTHON, else .venv-lerobot once `make lerobot-venv` completed (its marker)
_VENV = REPO / ".venv-lerobot"
LEROBOT_PYTHON = Path(os.environ.get("LAPA_LEROBOT_PYTHON") or
                      (_VENV / "bin" / "python" if (_VENV / ".installed").is_file() else _VENV / "missing"))


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """One carrot demonstration at 64 px, from `collect` (shared by the tests below)."""
    tmp_path = tmp_path_factory.mktemp("collected")
    cfg = CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path / "demos"), image_size=(64, 64),
                        progress=False)
    collect(cfg)
    return cfg, tmp_path


def test_collect_then_replay(collected, carrot_env):
    cfg, tmp_path = collected
    (ds,) = open_datasets(tmp_path / "demos")
    assert len(ds) == 1
    ep = ds.episode(0)
    assert ep["frames"].shape[1:] == (64, 64, 3) and ep["action"].shape == (60, 7)
    assert ep["meta"]["success"] and ep["meta"]["disjointness"]["disjoint"]
    assert min(ep["meta"]["disjointness"]["min_eval_distance_m"].values()) >= MIN_EVAL_DISTANCE
    # metadata check, re-computed from the stored layout of every episode
    for e in ds.episodes:
        again = check_disjoint(carrot_env, e["layout"])
        assert again["disjoint"] and min(again["min_eval_distance_m"].values()) >= MIN_EVAL_DISTANCE
    info = dataset_info(tmp_path / "demos")
    assert info["disjoint_from_eval"] == "1/1 episodes" and info["episodes"] == 1
    res = replay_check(tmp_path / "demos", progress=False)
    assert res["rate"] == 1.0
    # the training-layout check: a policy closed loop from the recorded layout, on native-size images
    seen = []
    from lapa_bench.policy import Policy, register_policy

    @dataclasses.dataclass
    class ProbeConfig:
        execute: int = 1

    @register_policy("_shape_probe")
    class ShapeProbe(Policy):
        config_class = ProbeConfig

        def act(self, obs):
            seen.append((obs["image"].shape, self.config.execute))
            return np.zeros(7, dtype=np.float32)

    import lapa_bench.policy as pol
    from lapa_bench.app.cli import main

    try:
        res = replay_check(tmp_path / "demos", progress=False, policy="_shape_probe", policy_config={"execute": 3})
        # a config override is typed before anything runs: an unknown key is an error naming the valid ones
        assert main(["data", "replay-check", str(tmp_path / "demos"), "--policy", "_shape_probe", "--policy.nope", "1"]) == 2
    finally:
        pol._REGISTRY.pop("_shape_probe", None)
    with pytest.raises(SystemExit, match="needs `data replay-check --policy NAME`"):
        main(["data", "info", str(tmp_path / "demos"), "--policy.execute", "2"])
    (r,) = res["episodes"]
    assert res["policy"] == "_shape_probe" and r["error"] is None and not r["replay_success"] and not r["grasped"]
    assert res["policy_config"] == {"execute": 3}
    assert r["held_out"] is None  # no checkpoint: no record of which layouts a run held out
    assert seen and set(seen) == {((480, 640, 3), 3)}
    # resume: asking for the same number again does nothing
    collect(cfg)
    assert len(open_datasets(tmp_path / "demos")[0]) == 1


@pytest.mark.parametrize("workers, num_envs", [(2, 1), (1, 2)])
def test_parallel_collection_writes_the_serial_dataset(collected, tmp_path, workers, num_envs):
    """--workers 2 plays a task's attempts in two processes, --num-envs 2 two at a time in lockstep (the
    oracle batched); either way the dataset is the serial one (attempt order)."""
    cfg, serial_dir = collected
    par = CollectConfig(**{**cfg.__dict__, "out": str(tmp_path / "par"), "episodes": 2, "num_envs": num_envs,
                           "backend": "cpu"})
    collect(par, workers=workers)
    (serial,), (ds,) = open_datasets(serial_dir / "demos"), open_datasets(tmp_path / "par")
    assert len(ds) == 2 and [e["attempt"] for e in ds.episodes] == sorted(e["attempt"] for e in ds.episodes)
    a, b = serial.episode(0), ds.episode(0)
    assert a["meta"]["attempt"] == b["meta"]["attempt"] and a["meta"]["layout"] == b["meta"]["layout"]
    np.testing.assert_array_equal(a["action"], b["action"])
    np.testing.assert_array_equal(a["observation.state"], b["observation.state"])
    np.testing.assert_array_equal(a["frames"], b["frames"])


@pytest.mark.skipif(not LEROBOT_PYTHON.exists(), reason="LeRobot 0.3.3 cannot share this venv (it pins torch<2.8): "
                    "`make lerobot-venv` builds .venv-lerobot for this test; without it, the always-on "
                    "equivalent is test_dataset_format.py::test_our_layout_matches_a_lerobot_written_dataset")
def test_lerobot_loads_a_collected_dataset(collected, tmp_path):
    """LeRobot's own v2.1 code (LeRobotDatasetMetadata, aggregate_stats, LeRobotDataset with its video
    decoder) loads a dataset written by `collect` and sees the frames, states, actions, indices and task
    our reader sees."""
    _, root = collected
    (ds,) = open_datasets(root / "demos")
    r = subprocess.run([str(LEROBOT_PYTHON), str(REPO / "scripts" / "lerobot_interop.py"), "load", str(ds.root),
                        str(tmp_path / "seen.npz")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    seen = np.load(tmp_path / "seen.npz")
    ep = ds.episode(0)
    assert np.array_equal(seen["action"], ep["action"])
    assert np.array_equal(seen["observation__state"], ep["observation.state"])
    assert seen["frame_index"].tolist() == list(range(len(ep["action"])))
    assert set(seen["episode_index"].tolist()) == {0} and set(seen["task"].tolist()) == {ep["task"]}
    img = seen["observation__images__image"]
    assert img.shape == ep["frames"].shape
    assert np.abs(img.astype(int) - ep["frames"].astype(int)).max() <= 1  # one mp4, two decoders
    # LeRobot's aggregate of our per-episode stats equals our stats.json
    stats = __import__("json").loads((ds.root / "meta" / "stats.json").read_text())
    for k in ("mean", "std", "min", "max"):
        assert np.allclose(seen[f"stats__action__{k}"], stats["action"][k], atol=1e-6), k
        assert seen[f"stats__observation.images.image__{k}"].shape == (3, 1, 1)


def test_panda_cross_embodiment_videos_have_no_actions(tmp_path):
    from lapa_bench.data.torch_datasets import FramePairs
    from lapa_bench.app.panda_videos import PandaConfig, collect_panda

    collect_panda(PandaConfig(tasks=["PushCube-v1"], episodes=1, out=str(tmp_path / "v"), image_size=(64, 64),
                              progress=False))
    (ds,) = open_datasets(tmp_path / "v")
    assert not ds.has_actions and "action" not in ds.info["features"]
    assert ds.info["robot_type"] == "panda" and ds.episodes[0]["success"]
    pairs = FramePairs([ds], horizon=1)
    assert len(pairs) == ds.episodes[0]["length"] - 1 and pairs[0]["x_t"].shape == (3, 64, 64)


def test_yaw_jitter_keeps_objects_near_an_evaluation_orientation(carrot_env):
    """`yaw_jitter`: each object starts in one of the evaluation orientations turned by at most +-J degrees
    (positions still disjoint); the default (180) turns them anywhere."""
    from lapa_bench.geometry import quat_mul

    _, quats = (t.cpu().numpy() for t in carrot_env._eval_layouts)

    def turn(q, ref):  # the yaw (degrees) taking ref to q, both wxyz and upright
        w, x, y, z = quat_mul(q, ref * np.array([1, -1, -1, -1]))
        return abs(np.degrees(2 * np.arctan2(z, w)) + 180) % 360 - 180

    rng, far = np.random.default_rng(1), 0.0
    for _ in range(30):
        xyz, quat, check = sample_layout(carrot_env, rng, yaw_jitter=10.0)
        assert check["disjoint"]
        for i in range(quat.shape[0]):
            assert min(abs(turn(quat[i], ref[i])) for ref in quats) <= 10.0 + 1e-4
        xyz, quat, _ = sample_layout(carrot_env, rng)
        far = max(far, min(abs(turn(quat[0], ref[0])) for ref in quats))
    assert far > 30.0  # any yaw by default
    with pytest.raises(ValueError, match="yaw_jitter"):
        CollectConfig(tasks=["carrot"], episodes=1, out="x", yaw_jitter=200.0)


def test_dart_noise_moves_the_arm_but_not_the_recorded_action(carrot_env):
    """`dart`: the oracle executes its action plus noise and a collection records the clean one (recovery
    data); the two differ only in translation, by about the noise's std."""
    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import run_episode

    policy = make_policy("scripted", dart=0.005)
    pairs = []
    rec = run_episode(carrot_env, policy, 3, 0, on_step=lambda obs, a: pairs.append((a.copy(), policy.recorded_action())))
    executed, recorded = (np.stack(x) for x in zip(*pairs))
    diff = executed - recorded
    assert len(pairs) == rec["steps"] and np.all(diff[:, 3:] == 0)
    assert 0.003 < diff[:, :3].std() < 0.008, diff[:, :3].std()
    clean = make_policy("scripted")
    pairs = []
    run_episode(carrot_env, clean, 3, 0, on_step=lambda obs, a: pairs.append((a.copy(), clean.recorded_action())))
    assert all(np.array_equal(a, b) for a, b in pairs)


def test_a_collection_resumes_only_with_its_own_oracle_settings(tmp_path):
    from lapa_bench.app.collect import _check_resume

    meta = tmp_path / "carrot" / "meta"
    meta.mkdir(parents=True)
    recorded = {"noise": 0.002, "dart": 0.0, "yaw_jitter": 180.0, "seed": 0, "keep_failures": False}  # as collect writes
    (meta / "info.json").write_text(json.dumps({"lapa_bench": recorded}))
    cfg = CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path))
    _check_resume(tmp_path / "carrot", cfg)
    with pytest.raises(ValueError, match="--dart 0.0"):
        _check_resume(tmp_path / "carrot", CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path), dart=0.01))
    with pytest.raises(ValueError, match="--noise 0.002"):
        _check_resume(tmp_path / "carrot", CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path), noise=0.0))
    # a record that does not say how it was collected is not resumed as if it did
    (meta / "info.json").write_text(json.dumps({"lapa_bench": {k: v for k, v in recorded.items() if k != "dart"}}))
    with pytest.raises(ValueError, match="--dart None"):
        _check_resume(tmp_path / "carrot", cfg)
