"""Reference policies: ``zero`` (no-op), ``random`` and ``replay`` (recorded actions).

They bound the table from below and check the harness; none of them learns anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.errors import UnknownName
from lapa_bench import specs
from lapa_bench.policy import ConfigError, Policy, register_policy


@dataclass
class ZeroConfig:
    gripper: float = specs.GRIPPER_OPEN  # gripper command held throughout


@register_policy("zero")
class ZeroPolicy(Policy):
    """No-op: the arm holds its target pose, the gripper stays open."""

    config_class = ZeroConfig

    def act(self, obs):
        a = np.zeros(specs.ACTION_DIM, dtype=np.float32)
        a[6] = self.config.gripper
        return a


@dataclass
class RandomConfig:
    # Uniform in +-scale per dimension (the gripper is a fair coin: -1 or +1).
    scale: list[float] = field(default_factory=lambda: specs.TYPICAL_ACTION_SCALE[:6].tolist())


@register_policy("random")
class RandomPolicy(Policy):
    """Uniformly random delta actions of a typical size (+-2 cm, +-0.1 rad); random gripper."""

    config_class = RandomConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        if len(self.config.scale) != 6:
            raise ConfigError(f"random: scale must have 6 numbers (dx..dyaw), got {self.config.scale}")
        self._rng = np.random.default_rng(0)

    def reset(self, instruction, seed=None, context=None):
        # Seed from (seed, episode) so every episode's action stream is reproducible.
        ep = int((context or {}).get("episode_id", 0))
        self._rng = np.random.default_rng([int(seed or 0), ep])

    def act(self, obs):
        s = np.asarray(self.config.scale, dtype=np.float32)
        a = self._rng.uniform(-s, s).astype(np.float32)
        return np.append(a, self._rng.choice([specs.GRIPPER_CLOSE, specs.GRIPPER_OPEN])).astype(np.float32)


@dataclass
class ReplayConfig:
    # .npy of shape (T, 7), or .npz / .json mapping "<task>/<episode_id>" (or "default") to (T, 7).
    actions_path: str = ""
    # What to do after the recording ends: "hold" (zero motion, last gripper) or "repeat_last".
    after_end: str = "hold"


@register_policy("replay")
class ReplayPolicy(Policy):
    """Plays recorded action sequences back, open loop (checks recordings are faithful)."""

    config_class = ReplayConfig

    def __init__(self, config=None, actions=None, **kwargs):
        super().__init__(config, **kwargs)
        if self.config.after_end not in ("hold", "repeat_last"):
            raise ConfigError(f"replay: after_end must be 'hold' or 'repeat_last', not {self.config.after_end!r}")
        self.sequences: dict[str, np.ndarray] = {}
        if actions is not None:
            self.sequences = self._normalise(actions if isinstance(actions, dict) else {"default": actions})
        elif self.config.actions_path:
            self.sequences = self._load(Path(self.config.actions_path))
        self._seq = None
        self._t = 0

    @staticmethod
    def _normalise(seqs: dict) -> dict[str, np.ndarray]:
        out = {}
        for k, v in seqs.items():
            a = np.asarray(v, dtype=np.float32)
            if a.ndim != 2 or a.shape[1] != specs.ACTION_DIM:
                raise ConfigError(f"replay: sequence {k!r} has shape {a.shape}, expected (T, 7)")
            out[str(k)] = a
        return out

    def _load(self, path: Path) -> dict[str, np.ndarray]:
        if not path.is_file():
            raise ConfigError(f"replay: actions_path {path} does not exist")
        if path.suffix == ".npy":
            return self._normalise({"default": np.load(path)})
        if path.suffix == ".npz":
            with np.load(path) as z:
                return self._normalise({k: z[k] for k in z.files})
        if path.suffix == ".json":
            return self._normalise(json.loads(path.read_text()))
        raise ConfigError(f"replay: actions_path must be .npy, .npz or .json, not {path.name}")

    def reset(self, instruction, seed=None, context=None):
        ctx = context or {}
        key = f"{ctx.get('task')}/{ctx.get('episode_id')}"
        seq = self.sequences.get(key, self.sequences.get("default"))
        if seq is None:
            raise UnknownName(f"replay: no recorded actions for {key!r} and no 'default' sequence")
        self._seq, self._t = seq, 0

    def act(self, obs):
        if self._seq is None:
            raise RuntimeError("replay: act() called before reset()")
        if self._t < len(self._seq):
            a = self._seq[self._t]
        elif self.config.after_end == "repeat_last":
            a = self._seq[-1]
        else:
            a = np.zeros(specs.ACTION_DIM, dtype=np.float32)
            a[6] = self._seq[-1, 6]
        self._t += 1
        return a

    def save_pretrained(self, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.savez(d / "actions.npz", **self.sequences)
        self.config.actions_path = ""
        out = super().save_pretrained(d)
        return out

    def _load_weights(self, directory):
        f = directory / "actions.npz"
        if f.is_file() and not self.sequences:
            self.sequences = self._load(f)
