"""Scripted demonstration collection on the real simulator: format, disjointness, faithful replay."""
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


def test_collect_then_replay(tmp_path, carrot_env):
    cfg = CollectConfig(tasks=["carrot"], episodes=1, out=str(tmp_path / "demos"), image_size=(64, 64),
                        progress=False)
    collect(cfg)
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

    @register_policy("_shape_probe")
    class ShapeProbe(Policy):
        def act(self, obs):
            seen.append(obs["image"].shape)
            return np.zeros(7, dtype=np.float32)

    import lapa_bench.policy as pol

    try:
        res = replay_check(tmp_path / "demos", progress=False, policy="_shape_probe")
    finally:
        pol._REGISTRY.pop("_shape_probe", None)
    (r,) = res["episodes"]
    assert res["policy"] == "_shape_probe" and r["error"] is None and not r["replay_success"] and not r["grasped"]
    assert seen and set(seen) == {(480, 640, 3)}
    # resume: asking for the same number again does nothing
    collect(cfg)
    assert len(open_datasets(tmp_path / "demos")[0]) == 1


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
