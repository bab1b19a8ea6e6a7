"""One policy interface for every checkpoint and baseline, and the registry that names them.

A policy is a class with a config dataclass, registered under a name::

    from dataclasses import dataclass
    from lapa_bench.policy import Policy, register_policy

    @dataclass
    class HoldConfig:
        gripper: float = 1.0

    @register_policy("hold")
    class HoldPolicy(Policy):
        config_class = HoldConfig

        def act(self, obs):
            return np.array([0, 0, 0, 0, 0, 0, self.config.gripper], dtype=np.float32)

Drop that file into ``policies/`` (or ``policies/<name>/policy.py``: discovery imports only these
policy modules, never trainers or inspectors) or, from another package, declare
it in that package's ``pyproject.toml``::

    [project.entry-points."lapa_bench.policies"]
    hold = "my_pkg.hold:HoldPolicy"

Then ``make_policy("hold", gripper=-1)`` or ``lapa-bench eval --policy hold``.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import pkgutil
import traceback
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from lapa_bench.errors import UnknownName, UserError
from lapa_bench import plugins, specs
from lapa_bench.config import from_dict, merge
from lapa_bench.io import write_json_atomic

ENTRY_POINT_GROUP = "lapa_bench.policies"
CONFIG_NAME = "config.json"


from lapa_bench.config import ConfigError  # noqa: E402  (a policy config is malformed: the one config error)


class TransportError(UserError, RuntimeError):
    """The policy could not be reached (a served policy's connection failed): not the policy's failure, so no
    episode is recorded as failed for it; the run stops, and a rerun resumes."""


@dataclasses.dataclass
class EmptyConfig:
    """A policy without settings."""


class Policy:
    """Maps observations (``lapa_bench.specs``) to 7-D delta end-effector actions.

    Subclasses set ``config_class`` (a dataclass) and implement :meth:`act`; they may override
    :meth:`reset`, :meth:`save_pretrained` (call ``super()`` to write ``config.json``) and
    :meth:`_load_weights`. ``act`` returns one action ``(7,)`` or an action chunk ``(k, 7)``,
    which the harness executes in order before it calls ``act`` again.

    Privileged policies (the ``scripted`` oracle) set ``privileged = True``; the harness then
    calls :meth:`bind_env` with the simulator env before each episode (in a batch, :meth:`bind_scenes`:
    each episode's copy gets its own scene). Learned policies must not.

    Batched rollouts (several episodes in lockstep, :func:`lapa_bench.rollout.run_batch`) call
    :meth:`reset_batch` and :meth:`act_batch`. The default gives each episode its own shallow copy of
    the policy (:meth:`spawn`; weights shared, per-episode state set by ``reset``) and calls its
    ``act``, so every policy works batched; a policy that can decide for B observations in one pass
    (the learned ones, :class:`ModelPolicy`) overrides both.
    """

    name: ClassVar[str] = ""  # set by @register_policy
    config_class: ClassVar[type] = EmptyConfig
    privileged: ClassVar[bool] = False

    def __init__(self, config=None, **kwargs):
        self.config = build_config(self.config_class, config, kwargs, self.name)
        self.observation_space = specs.observation_space()
        self.action_space = specs.action_space()
        self.checkpoint: str | None = None
        self.device = "auto"  # runtime only (never in a config): set by make_policy / from_pretrained

    # -- rollout -------------------------------------------------------------------------
    def reset(self, instruction: str, seed: int | None = None, context: dict | None = None) -> None:
        """Start an episode. ``context`` holds ``task`` and ``episode_id`` for bookkeeping."""

    def act(self, obs: dict) -> np.ndarray:
        raise NotImplementedError

    # -- batched rollout -----------------------------------------------------------------
    def spawn(self) -> "Policy":
        """A per-episode instance for the default batched path, and the start of the policy server's copy for
        each connection: a shallow copy (models are shared; the episode's state is set by ``reset``). Override
        if ``reset`` mutates objects in place that hold a ``state_dict`` (a module keeping an action queue)."""
        return copy.copy(self)

    def reset_batch(self, instructions: list[str], seeds: list, contexts: list[dict]) -> list:
        """Start B episodes (slot b = episode b of the batch). Returns one entry per slot: None, or the
        exception that slot's reset raised (that episode is recorded as failed, the others go on)."""
        self._slots = [self] if len(instructions) == 1 else [self.spawn() for _ in instructions]
        if self.privileged and len(instructions) > 1:
            for p, scene in zip(self._slots, self._scenes):
                p.bind_env(scene)
        errors = []
        for p, ins, seed, ctx in zip(self._slots, instructions, seeds, contexts):
            try:
                p.reset(ins, seed=seed, context=ctx)
                errors.append(None)
            except Exception as e:
                errors.append(e)
        return errors

    def act_batch(self, observations: list[dict], slots: list[int]) -> list:
        """Observations of the episodes in ``slots`` -> one action ``(7,)`` or chunk ``(k, 7)`` per slot,
        or the exception that slot's ``act`` raised."""
        out = []
        for obs, b in zip(observations, slots):
            try:
                out.append(self._slots[b].act(obs))
            except Exception as e:
                out.append(e)
        return out

    def bind_env(self, env) -> None:
        """Privileged policies only: receive the ``SimplerBridgeEnv`` of the coming episode."""

    def bind_scenes(self, scenes: list) -> None:
        """Privileged policies only: the scenes of the coming batch (one: :meth:`bind_env`; several: each
        episode's copy is bound to its scene in :meth:`reset_batch`)."""
        self._scenes = list(scenes)
        if len(self._scenes) == 1:
            self.bind_env(self._scenes[0])

    # -- checkpoints ---------------------------------------------------------------------
    def save_pretrained(self, directory) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        payload = {"policy": self.name, "config": config_to_dict(self.config)}
        write_json_atomic(d / CONFIG_NAME, payload, sort_keys=True)
        return d

    @classmethod
    def from_pretrained(cls, directory, device: str = "auto", **overrides) -> "Policy":
        name, config = read_checkpoint_config(directory)
        if cls is not Policy and cls.name and name != cls.name:
            raise ConfigError(f"{directory} holds a {name!r} checkpoint, not {cls.name!r}")
        pcls = cls if cls is not Policy else get_policy_class(name)
        config = merge(config, overrides)
        policy = pcls(**config)
        policy.device = device
        policy._load_weights(Path(directory))
        policy.checkpoint = str(directory)
        return policy

    def _load_weights(self, directory: Path) -> None:
        """Load weights/statistics written by :meth:`save_pretrained` (none by default)."""


def check_chunk_rollout(chunk: int, execute: int, ensemble: float) -> None:
    """The rollout settings of a chunk policy (``execute``, ``ensemble``; :class:`ModelPolicy`), checked
    where a config is built."""
    if not 1 <= execute <= chunk:
        raise UserError(f"execute must be in [1, chunk={chunk}], got {execute}")
    if ensemble and execute != 1:
        raise UserError(f"ensemble={ensemble} (temporal ensembling) predicts at every step: it needs execute 1, "
                         f"got execute {execute}")


class ModelPolicy(Policy):
    """A policy around one trained model (``bc``, ``lapa``, ``scratch``, ``vpt``): the model has
    ``predict(images, instructions, states) -> (B, chunk, 7)`` in env units, ``save_pretrained(dir,
    policy_name=...)`` and ``from_pretrained(dir)``; its config has the rollout settings
    ``ROLLOUT_KEYS``, which a user may override on a trained checkpoint (``--policy.execute 4``):

    * ``execute``: the policy returns the first ``execute`` actions of each predicted chunk (the harness
      queues them), then predicts again;
    * ``ensemble`` (0: off): ACT's temporal ensembling (Zhao et al., 2023). The policy predicts a chunk
      at every step and executes, for this step, the weighted mean of the actions every still-overlapping
      chunk predicted for it: weights ``exp(-ensemble * i)``, ``i = 0`` the oldest prediction (ACT: 0.01;
      over a chunk of 4 that is about a plain mean; a negative value favours the newest). The binary
      gripper is the sign of the weighted mean (the newest prediction on a tie).

    Actions are clipped to the action bounds. Subclasses set ``config_class`` and :meth:`model_class`;
    they may check a loaded model in :meth:`_check`."""

    ROLLOUT_KEYS: ClassVar[tuple] = ("execute", "ensemble")

    def __init__(self, config=None, **kwargs):
        from lapa_bench.data.command import CommandTracker

        super().__init__(config, **kwargs)
        self.model = None
        self._history: list[list] = []  # per episode slot, the chunks predicted so far (``ensemble`` only)
        self._commands = CommandTracker()  # per episode slot, the commanded state (``command_state``)

    @classmethod
    def model_class(cls):
        raise NotImplementedError

    def _build(self):
        """An untrained model from the config (tests, smoke runs); checkpoints load weights instead."""
        return self.model_class()(self.config)

    def _check(self, model, directory: Path) -> None:
        """Refuse a checkpoint that is not a policy (e.g. a pretraining stage), naming the fix."""

    def _ensure(self):
        if self.model is None:
            self._place(self._build())
        return self.model

    def _place(self, model):
        from lapa_bench.device import resolve_device

        self.model = model.to(resolve_device(self.device)).eval()
        self.config = model.config

    @classmethod
    def from_pretrained(cls, directory, device: str = "auto", **overrides) -> "Policy":
        """The checkpoint's config, read once, with ``overrides`` of its rollout settings (``ROLLOUT_KEYS``) only: the
        rest is what the weights were trained with."""
        fixed = sorted(set(overrides) - set(cls.ROLLOUT_KEYS))
        if fixed:
            raise ConfigError(f"{', '.join(fixed)}: a setting of the trained model in {directory}, not of its rollout; "
                              f"on a checkpoint only {', '.join(cls.ROLLOUT_KEYS)} can be set")
        return super().from_pretrained(directory, device=device, **overrides)

    def _load_weights(self, directory: Path) -> None:
        # the policy's config is the model's: the checkpoint's, read once by from_pretrained, with its rollout settings
        model = self.model_class().from_pretrained(directory, config=self.config)
        self._check(model, directory)
        self._place(model)

    def _states(self, observations: list[dict], slots: list[int]):
        """The model's proprioceptive input: the observed states, with the commanded state appended when the
        model was trained with ``command_state`` (:mod:`lapa_bench.data.command`)."""
        s = np.stack([o["state"] for o in observations])
        if getattr(self.config, "command_state", False):
            s = np.concatenate([s, self._commands.features(s, slots)], 1)
        return s

    def reset(self, instruction: str, seed: int | None = None, context: dict | None = None) -> None:
        self._history = [[]]
        self._commands.reset()

    def act(self, obs: dict) -> np.ndarray:
        """An action chunk: the first ``execute`` of the ``chunk`` actions the model predicts (or, with
        ``ensemble``, this step's temporally ensembled action)."""
        return self.act_batch([obs], [0])[0]

    def reset_batch(self, instructions, seeds, contexts) -> list:
        """Per episode, the chunks predicted so far (``ensemble``) and the commanded state (``command_state``)."""
        self._history = [[] for _ in instructions]
        self._commands.reset()
        return [None] * len(instructions)

    def act_batch(self, observations: list[dict], slots: list[int]) -> list:
        """One forward pass for every episode of the batch (raises for all of them if it fails)."""
        chunks = self._predict(observations, slots)
        if self.config.ensemble:
            chunks = [self._ensembled(c, b) for c, b in zip(chunks, slots)]
        else:
            chunks = [c[: self.config.execute] for c in chunks]
        chunks = [np.clip(c, specs.ACTION_LOW, specs.ACTION_HIGH).astype(np.float32) for c in chunks]
        if getattr(self.config, "command_state", False):
            for c, b in zip(chunks, slots):
                self._commands.executed(b, c)
        return chunks

    def _predict(self, observations: list[dict], slots: list[int]) -> np.ndarray:
        """The model's chunks ``(B, chunk, 7)`` for B observations: one forward pass."""
        model = self._ensure()
        return model.predict(np.stack([o["image"] for o in observations]), [o["instruction"] for o in observations],
                             self._states(observations, slots))

    def _ensembled(self, chunk: np.ndarray, slot: int) -> np.ndarray:
        """This step's action ``(1, 7)`` from the chunk just predicted and the earlier ones that overlap it."""
        while len(self._history) <= slot:  # act without reset: a fresh episode
            self._history.append([])
        hist = self._history[slot]
        hist.append(chunk)
        del hist[: -len(chunk)]  # chunks issued more than chunk-1 steps ago predict nothing for now
        n = len(hist)
        preds = np.stack([h[n - 1 - i] for i, h in enumerate(hist)])  # oldest first; hist[i] is n-1-i steps old
        w = np.exp(-self.config.ensemble * np.arange(n))
        action = (w[:, None] * preds).sum(0) / w.sum()
        g = action[-1]
        action[-1] = np.sign(g) if g != 0 else preds[-1, -1]
        return action[None]

    def save_pretrained(self, directory) -> Path:
        return self._ensure().save_pretrained(directory, policy_name=self.name)


# -- configs -------------------------------------------------------------------------------
def config_to_dict(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})


def build_config(config_class, config, kwargs: dict, policy_name: str = ""):
    if config is not None and kwargs:
        raise ConfigError("pass either a config object or keyword arguments, not both")
    if config is not None and not isinstance(config, dict):
        return config
    values = dict(config or {}, **kwargs)
    # typed: unknown keys and wrongly typed values fail here, naming the key (lapa_bench.config)
    return from_dict(config_class, values, where=f"policy {policy_name!r} config" if policy_name else "")


def read_checkpoint_config(directory) -> tuple[str, dict]:
    d = Path(directory)
    path = d / CONFIG_NAME
    if not d.is_dir():
        raise ConfigError(f"checkpoint directory {d} does not exist")
    if not path.is_file():
        raise ConfigError(f"{d} is not a checkpoint: it has no {CONFIG_NAME} (write one with save_pretrained)")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(payload, dict) or "policy" not in payload or not isinstance(payload.get("config", {}), dict):
        raise ConfigError(f'{path} must be an object {{"policy": NAME, "config": {{...}}}}')
    return payload["policy"], dict(payload.get("config", {}))


# -- registry ------------------------------------------------------------------------------
_REGISTRY: dict[str, type[Policy]] = {}
_BROKEN: dict[str, str] = {}  # module -> import error, shown in listings
_DISCOVERED = False


def register_policy(name: str):
    """Class decorator: make a :class:`Policy` subclass available as ``name``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Policy)):
            raise TypeError(f"@register_policy({name!r}) must decorate a Policy subclass")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            prev = _REGISTRY[name]
            if (prev.__module__, prev.__qualname__) != (cls.__module__, cls.__qualname__):
                raise UserError(f"policy name {name!r} is already registered by {prev.__module__}.{prev.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def policy_modules() -> list[str]:
    """The policy modules of the ``policies`` package: its top-level modules and ``<pkg>/policy.py``."""
    from lapa_bench import policies

    root = Path(policies.__path__[0])
    mods = [f"lapa_bench.policies.{m.name}" for m in pkgutil.iter_modules([str(root)]) if not m.ispkg]
    mods += [f"lapa_bench.policies.{p.name}.policy" for p in sorted(root.iterdir()) if (p / "policy.py").is_file()]
    return mods


def _discover() -> None:
    """Import the policy modules (not trainers or inspectors) and the entry-point group once."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    plugins.import_modules(policy_modules(), _BROKEN)
    plugins.load_entry_points(ENTRY_POINT_GROUP, _BROKEN,
                              lambda name, cls: None if name in _REGISTRY else register_policy(name)(cls))


def available_policies() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def broken_policies() -> dict[str, str]:
    _discover()
    return dict(_BROKEN)


def get_policy_class(name: str) -> type[Policy]:
    _discover()
    if name not in _REGISTRY:
        raise UnknownName(plugins.unknown("policy", "policies", name, _REGISTRY, _BROKEN))
    return _REGISTRY[name]


def make_policy(name: str, checkpoint: str | Path | None = None, device: str = "auto", **config: Any) -> Policy:
    """Build a registered policy from keyword config, or load it from a checkpoint folder."""
    cls = get_policy_class(name)
    if checkpoint is not None:
        return cls.from_pretrained(checkpoint, device=device, **config)
    policy = cls(**config)
    policy.device = device
    return policy


def describe_policies() -> list[dict]:
    rows = []
    for name in available_policies():
        cls = _REGISTRY[name]
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append({"name": name, "class": f"{cls.__module__}.{cls.__qualname__}",
                     "privileged": cls.privileged, "summary": doc[0] if doc else ""})
    return rows


def format_exception(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(e).__name__}: {e}{where}"
