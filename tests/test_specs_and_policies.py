"""Fast unit tests: action checks, registry, configs, checkpoints (no simulator)."""
import json
import sys
import textwrap

import numpy as np
import pytest

from lapa_bench import specs
from lapa_bench.policy import (ConfigError, Policy, available_policies, get_policy_class, make_policy,
                               register_policy)
from lapa_bench.specs import InvalidActionError, check_action


def test_check_action_accepts_single_and_chunk():
    assert check_action(np.zeros(7)).shape == (1, 7)
    assert check_action([[0] * 7] * 3).shape == (3, 7)


@pytest.mark.parametrize("bad, why", [
    (np.full(7, np.nan), "NaN"),
    (np.zeros(6), "shape"),
    (np.zeros((2, 3)), "shape"),
    (np.array([2, 0, 0, 0, 0, 0, 0]), "bounds"),
    ("left", "numeric"),
])
def test_check_action_rejects(bad, why):
    with pytest.raises(InvalidActionError, match=why):
        check_action(bad)


def test_builtin_policies_registered():
    names = available_policies()
    for n in ("zero", "random", "replay", "scripted"):
        assert n in names


def test_unknown_policy_lists_known():
    with pytest.raises(KeyError) as e:
        make_policy("no_such_policy")
    msg = str(e.value)
    assert "no_such_policy" in msg and "scripted" in msg and "random" in msg


def test_register_new_policy_is_one_class():
    from dataclasses import dataclass

    @dataclass
    class HoldConfig:
        gripper: float = -1.0

    @register_policy("test_hold")
    class Hold(Policy):
        """Hold still."""
        config_class = HoldConfig

        def act(self, obs):
            return np.array([0, 0, 0, 0, 0, 0, self.config.gripper], dtype=np.float32)

    p = make_policy("test_hold", gripper=1.0)
    assert p.act({})[6] == 1.0 and "test_hold" in available_policies()


def test_entry_point_registration(tmp_path, monkeypatch):
    """An installed distribution that declares the entry-point group is discovered."""
    import lapa_bench.policy as pol

    pkg = tmp_path / "extpol_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import numpy as np
        from lapa_bench.policy import Policy
        class ExtPolicy(Policy):
            '''External policy.'''
            def act(self, obs):
                return np.zeros(7, dtype=np.float32)
    """))
    dist = tmp_path / "extpol_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extpol-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lapa_bench.policies]\next_policy = extpol_pkg:ExtPolicy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pol, "_DISCOVERED", False)
    assert "ext_policy" in available_policies()
    assert make_policy("ext_policy").act({}).shape == (7,)
    pol._REGISTRY.pop("ext_policy", None)
    sys.modules.pop("extpol_pkg", None)


def test_unknown_config_key_is_clear():
    with pytest.raises(ConfigError, match="valid keys"):
        make_policy("zero", speed=3)


def test_malformed_checkpoint_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Policy.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(ConfigError, match="policy"):
        Policy.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        Policy.from_pretrained(tmp_path / "missing_dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        Policy.from_pretrained(tmp_path / "empty")


def test_save_load_round_trip_random(tmp_path):
    p = make_policy("random", scale=[0.01] * 6)
    p.save_pretrained(tmp_path)
    q = Policy.from_pretrained(tmp_path)
    assert type(q).__name__ == "RandomPolicy" and q.config.scale == [0.01] * 6
    for pol in (p, q):
        pol.reset("x", seed=3, context={"episode_id": 1})
    assert np.array_equal(p.act({}), q.act({}))


def test_replay_round_trip_and_keys(tmp_path):
    seqs = {"carrot/0": np.ones((2, 7), np.float32) * 0.01, "default": np.zeros((1, 7), np.float32)}
    p = make_policy("replay", actions=seqs)
    p.save_pretrained(tmp_path)
    q = make_policy("replay", checkpoint=tmp_path)
    q.reset("x", 0, {"task": "carrot", "episode_id": 0})
    assert np.allclose(q.act({}), 0.01) and np.allclose(q.act({}), 0.01)
    assert np.allclose(q.act({})[:6], 0)  # held after the end
    q.reset("x", 0, {"task": "spoon", "episode_id": 5})
    assert np.allclose(q.act({}), 0)


def test_random_policy_is_seeded_and_typical():
    p = make_policy("random")
    p.reset("x", seed=1, context={"episode_id": 2})
    a = np.stack([p.act({}) for _ in range(50)])
    p.reset("x", seed=1, context={"episode_id": 2})
    b = np.stack([p.act({}) for _ in range(50)])
    assert np.array_equal(a, b)
    assert np.all(np.abs(a[:, :3]) <= 0.02 + 1e-6) and set(np.unique(a[:, 6])) <= {-1.0, 1.0}
    # random, not constant: every dimension varies, both gripper commands occur, translations fill +-2 cm
    assert np.all(a[:, :6].std(0) > 0.003) and set(np.unique(a[:, 6])) == {-1.0, 1.0}
    assert np.abs(a[:, :3]).max() > 0.015 and abs(a[:, :3].mean()) < 0.005
    p.reset("x", seed=2, context={"episode_id": 2})  # another seed, another sequence
    assert not np.array_equal(a, np.stack([p.act({}) for _ in range(50)]))


def test_spaces_documented():
    obs = specs.observation_space()
    assert obs["image"].shape == (480, 640, 3) and obs["state"].shape == (7,)
    assert specs.action_space().shape == (7,)


def test_methods_entry_point(tmp_path, monkeypatch):
    """An installed distribution that declares `lapa_bench.methods` registers its training method."""
    import lapa_bench.training.registry as reg

    pkg = tmp_path / "extmeth_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass, field
        from lapa_bench.training import TrainConfig, register_method
        @dataclass
        class ExtConfig:
            train: TrainConfig = field(default_factory=TrainConfig)
        @register_method("ext_method", config=ExtConfig)
        def train(cfg, inputs, out, device="auto"):
            '''An external method.'''
            return out
    """))
    dist = tmp_path / "extmeth_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extmeth-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lapa_bench.methods]\next = extmeth_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reg, "_DISCOVERED", False)
    try:
        assert "ext_method" in reg.available_methods()
        assert reg.get_method("ext_method").summary == "An external method."
    finally:
        reg._METHODS.pop("ext_method", None)
        sys.modules.pop("extmeth_pkg", None)
