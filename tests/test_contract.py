"""The registries' contract, over everything registered: a new policy or method is covered by registering it.

* every policy builds, resets and acts on the spec's observation, one episode and a batch of two, with valid
  actions (a learned one as an untrained model; ``remote`` through a real server; the privileged oracle bound to
  a scene it can read);
* every training method trains two steps of each of its stages on a tiny dataset (its config's defaults
  otherwise), finishes, and its checkpoint, loaded twice, gives the same actions.
"""
import numpy as np
import pytest

from lapa_bench import specs
from lapa_bench.policy import available_policies, make_policy
from lapa_bench.training.registry import available_methods

from conftest import tiny_dataset

OBS = {"image": np.full((32, 32, 3), 90, np.uint8), "instruction": "put carrot on plate",
       "state": np.zeros(specs.STATE_DIM, np.float32)}


class _Scene:
    """What a privileged policy reads from its scene (``privileged_state``), in the base frame."""

    def privileged_state(self):
        box = {"q": np.array([1.0, 0, 0, 0]), "half_size": np.array([0.02, 0.01, 0.01])}
        return {"source": {"p": np.array([0.35, 0.0, 0.02]), **box}, "target": {"p": np.array([0.30, 0.1, 0.0]), **box},
                "ee": {"p": np.array([0.29, 0.0, 0.13]), "q": np.array([1.0, 0, 0, 0])},
                "ee_target": {"p": np.array([0.29, 0.0, 0.13]), "q": np.array([1.0, 0, 0, 0])},
                "fingers": [np.array([0.29, 0.02, 0.1]), np.array([0.29, -0.02, 0.1])]}


def _built(name, tmp_path):
    """The policy ``name`` ready to act, and what to close after."""
    if name == "remote":  # a real server (lapa-bench's own), serving a registered policy
        from lapa_bench.serving.server import server_for

        srv = server_for(make_policy("zero"), "zero", None).start()
        return make_policy("remote", url=srv.url), srv.stop
    if name == "replay":
        path = tmp_path / "actions.npy"
        np.save(path, np.zeros((3, specs.ACTION_DIM), np.float32))
        return make_policy("replay", actions_path=str(path)), lambda: None
    from lapa_bench.policy import get_policy_class

    # a model with presets starts from its smallest (`tiny`): its defaults alone name no tower to build
    tiny = {"preset": "tiny"} if "tiny" in getattr(get_policy_class(name).config_class, "PRESETS", {}) else {}
    return make_policy(name, device="cpu", **tiny), lambda: None


@pytest.mark.parametrize("name", available_policies())
def test_every_policy_resets_and_acts_on_the_spec_alone_and_batched(name, tmp_path):
    policy, close = _built(name, tmp_path)
    try:
        if getattr(policy, "privileged", False):
            policy.bind_env(_Scene())
        policy.reset(OBS["instruction"], seed=0, context={"episode_id": 0})
        specs.check_action(policy.act(OBS))
        if getattr(policy, "privileged", False):
            policy.bind_scenes([_Scene(), _Scene()])
        policy.reset_batch([OBS["instruction"]] * 2, [0, 1], [{"episode_id": 0}, {"episode_id": 1}])
        actions = policy.act_batch([OBS, OBS], [0, 1])
        assert len(actions) == 2
        for a in actions:
            specs.check_action(a)
    finally:
        close()


@pytest.mark.parametrize("name", available_methods())
def test_every_method_trains_and_its_checkpoint_reloads_to_the_same_actions(name, tmp_path):
    from lapa_bench.training import checkpoint
    from lapa_bench.training.registry import Inputs, get_method, run_method, train_stages

    m = get_method(name)
    cfg = m.config_class()
    for _, tc in train_stages(cfg):  # two steps of every stage, small batches: the recipe's shape, not its cost
        tc.steps, tc.batch_size, tc.warmup_steps, tc.progress = 2, 4, 0, False
    data = str(tiny_dataset(tmp_path / "data", episodes=5, states=True))
    inputs = Inputs(**{c: [data] for c in m.needs})
    out = run_method(m, cfg, inputs, tmp_path / "out", "cpu")
    assert checkpoint.is_done(out)
    if m.policy is None:  # a component of other methods (laq, idm): trained and done is its contract
        return
    acts = []
    for _ in range(2):
        policy = make_policy(m.policy, checkpoint=str(out), device="cpu")
        policy.reset(OBS["instruction"], seed=0, context={"episode_id": 0})
        acts.append(np.asarray(policy.act(OBS)))
    specs.check_action(acts[0])
    assert np.array_equal(acts[0], acts[1])
