"""The commanded state (``command_state``): what training rebuilds equals what a rollout tracks, and the
tracked target equals the simulator controller's own."""
import json

import numpy as np
import pytest

from conftest import requires_sim, tiny_dataset


def test_features_of_an_episode_equal_the_trackers_over_chunks():
    from lapa_bench.data.command import AGE_CAP, CommandTracker, command_features

    rng = np.random.default_rng(0)
    states, actions = rng.normal(size=(9, 7)) * 0.1, rng.normal(size=(9, 7)) * 0.01
    actions[:, 6] = [1, 1, -1, -1, -1, -1, 1, 1, 1]  # close at step 2, open at step 6
    want = command_features(states, actions)
    assert want.shape == (9, 5) and np.allclose(want[0], [0, 0, 0, 1, AGE_CAP])
    assert np.allclose(want[3, :3], states[0, :3] + actions[:3, :3].sum(0) - states[3, :3], atol=1e-6)
    assert want[:, 3].tolist() == [1, 1, 1, -1, -1, -1, -1, 1, 1]  # the last command before step t
    assert want[:, 4].tolist() == [AGE_CAP, AGE_CAP, AGE_CAP, 1, 2, 3, 4, 1, 2]  # steps since it changed
    tr, got, t = CommandTracker(), [], 0
    for n in (1, 4, 2, 2):  # chunks of any length: the tracker follows what was returned
        got.append(tr.features(states[t:t + 1], [3])[0])
        tr.executed(3, actions[t:t + n])
        t += n
    assert np.allclose(got, want[[0, 1, 5, 7]], atol=1e-6)
    with pytest.raises(RuntimeError, match="before features"):
        CommandTracker().executed(0, actions[:1])


@requires_sim
def test_the_tracked_target_is_the_controllers(carrot_env):
    """Driven by the scripted oracle (which acts from the controller's target), the target a policy rebuilds
    from its own actions equals ManiSkill's ``_target_pose`` at every step, and it is not the measured pose."""
    from lapa_bench.data.command import CommandTracker
    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import run_episode

    tracker, err, lag = CommandTracker(), [], []

    def on_step(obs, action):
        off = tracker.features(obs["state"][None], [0])[0][:3]
        target = carrot_env.privileged_state()["ee_target"]["p"]
        err.append(np.abs(obs["state"][:3] + off - target).max())
        lag.append(np.linalg.norm(off))
        tracker.executed(0, np.asarray(action)[None])

    rec = run_episode(carrot_env, make_policy("scripted"), episode_id=1000, seed=0, on_step=on_step)
    assert rec["error"] is None and len(err) == rec["steps"] == 60
    assert max(err) < 1e-5, max(err)  # metres
    assert np.median(lag) > 1e-3  # the measured end effector lags its target by millimetres


def test_bc_trains_and_acts_with_the_command_state(tmp_path):
    """Training states get the commanded state rebuilt from the recorded actions; a rollout of the same actions
    gives the model the same 12-D states; a --dart collection and a state-less config are refused."""
    from lapa_bench.data import LeRobotDataset
    from lapa_bench.data.command import command_features
    from lapa_bench.data.torch_datasets import chunk_samples
    from lapa_bench.policy import make_policy
    from lapa_bench.training import Inputs, TrainConfig
    from lapa_bench.policies.bc.configuration_bc import BCConfig
    from lapa_bench.policies.bc.train import BCTrainConfig, train

    ds = tiny_dataset(tmp_path / "ds", episodes=4, T=8, states=True)
    model = BCConfig(image_size=32, depth=2, width=8, hidden=32, chunk=2, execute=2, command_state=True)
    cfg = BCTrainConfig(model=model, train=TrainConfig(steps=4, batch_size=4, progress=False, log_every=2),
                        blind_twin_fraction=0.0)
    train(cfg, Inputs(data=[str(ds)]), tmp_path / "bc", device="cpu")
    saved = json.loads((tmp_path / "bc" / "config.json").read_text())["config"]
    assert saved["command_state"] is True

    src = LeRobotDataset(ds)
    ep = src.episode(1, with_frames=True)
    samples = chunk_samples([src], [1], 2, model.preprocess(), command_state=True)
    s = samples[3]["state"].numpy()
    assert s.shape == (12,) and np.allclose(s[7:], command_features(ep["observation.state"], ep["action"])[3], atol=1e-6)

    policy = make_policy("bc", checkpoint=tmp_path / "bc")
    seen = []
    policy.model.predict = lambda images, instructions, states: (
        seen.append(np.array(states)) or ep["action"][None, len(seen) * 2 - 2: len(seen) * 2])
    policy.reset_batch(["put carrot on plate"], [0], [{}])
    for t in (0, 2, 4):  # execute 2: the policy predicts at steps 0, 2, 4
        policy.act_batch([{"image": ep["frames"][t], "instruction": "put carrot on plate",
                           "state": ep["observation.state"][t]}], [0])
    want = command_features(ep["observation.state"], ep["action"])[[0, 2, 4]]
    assert np.allclose(np.concatenate(seen)[:, 7:], want, atol=1e-6)

    info = json.loads((ds / "meta" / "info.json").read_text())
    info.setdefault("lapa_bench", {})["dart"] = 0.005
    (ds / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="--dart"):
        chunk_samples([LeRobotDataset(ds)], [0], 2, model.preprocess(), command_state=True)
    with pytest.raises(ValueError, match="needs proprio"):
        BCConfig(proprio=False, command_state=True)
