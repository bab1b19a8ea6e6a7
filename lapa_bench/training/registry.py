"""The training-method registry, mirroring the policy registry.

A method is one function that trains from a typed config and named corpora::

    @dataclass
    class ToyConfig:
        train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=100))

    @register_method("toy", config=ToyConfig, policy="toy", needs=("data",))
    def train(cfg: ToyConfig, inputs: Inputs, out: Path, device: str) -> Path:
        ...  # build a model, then lapa_bench.training.train_model(model, data, cfg.train, out, ...)

Methods live in ``policies/<name>/train.py`` (found automatically), in a package declared under the
``lapa_bench.methods`` entry-point group, or in a module a pipeline config lists under ``plugins``.
``lapa-bench METHOD train`` and ``lapa-bench pipeline`` are built from this registry; a method may add
more CLI actions with :func:`register_command` (``lapa-bench laq probe ...``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lapa_bench.errors import UnknownName, UserError
from lapa_bench import plugins

ENTRY_POINT_GROUP = "lapa_bench.methods"
CORPORA = ("data", "videos")  # labelled trajectories, action-free videos


@dataclass
class Inputs:
    """The named corpora a method trains on (lists of dataset folders)."""

    data: list[str] = field(default_factory=list)  # labelled trajectories (with actions)
    videos: list[str] = field(default_factory=list)  # action-free videos
    # a folder for the stages that use neither the labelled data nor anything else that varies between the runs
    # pointed at it (LAPA's LAQ and latent pretraining): the pipeline points a run's labelled-set sizes (and, with
    # `shared_stages: once`, its training seeds) here, so those stages train once (None: inside the run's folder)
    shared: str | None = None


@dataclass
class Command:
    name: str
    config_class: type
    fn: Callable  # fn(cfg, device) -> dict | None
    help: str


@dataclass
class Method:
    name: str
    config_class: type
    train: Callable  # train(cfg, inputs, out, device) -> Path
    policy: str | None  # the registered policy its checkpoint loads as (None: a component, e.g. laq)
    needs: tuple
    summary: str
    commands: dict = field(default_factory=dict)
    # dotted paths of the config's training stages that go to ``Inputs.shared`` when it is given (trained once
    # for every run pointed there, e.g. LAPA's ("laq.train", "pretrain")); `lapa-bench pipeline --plan` counts them
    shares: tuple = ()


_METHODS: dict[str, Method] = {}
_BROKEN: dict[str, str] = {}
_DISCOVERED = False


def register_method(name: str, config: type, policy: str | None = None, needs=("data",), shares=()):
    """Decorator of a method's ``train(cfg, inputs, out, device)`` function."""
    bad = [n for n in needs if n not in CORPORA]
    if bad:
        raise UserError(f"method {name!r}: unknown corpora {bad}; choose from {CORPORA}")

    def deco(fn):
        prev = _METHODS.get(name)
        if prev is not None and (prev.train.__module__, prev.train.__qualname__) != (fn.__module__, fn.__qualname__):
            raise UserError(f"method name {name!r} is already registered by {prev.train.__module__}")
        doc = (fn.__doc__ or "").strip().splitlines()
        _METHODS[name] = Method(name, config, fn, policy, tuple(needs), doc[0] if doc else "",
                                dict(prev.commands) if prev else {}, tuple(shares))
        return fn

    return deco


def register_command(method: str, name: str, config: type, help: str = ""):
    """Decorator of an extra CLI action ``lapa-bench METHOD NAME`` taking ``fn(cfg, device)``."""

    def deco(fn):
        if method not in _METHODS:
            raise UserError(f"register the method {method!r} before its command {name!r}")
        _METHODS[method].commands[name] = Command(name, config, fn, help or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    from lapa_bench import policies

    root = Path(policies.__path__[0])
    plugins.import_modules([f"lapa_bench.policies.{p.name}.train" for p in sorted(root.iterdir()) if (p / "train.py").is_file()],
                           _BROKEN)
    plugins.load_entry_points(ENTRY_POINT_GROUP, _BROKEN)


def run_method(method: Method, cfg, inputs: Inputs, out, device: str = "auto"):
    """Train ``method`` into ``out``, the one way every command does it (``lapa-bench METHOD train``, the
    pipeline): ``out`` is claimed with the run's fingerprint (:mod:`lapa_bench.fingerprint`: the resolved
    config and the settings of the datasets it trains on: a finished or resumable run made with other settings
    is refused, never reused), then the global RNGs are seeded with the config's first training seed, so the
    model's initialisation depends on the seed and on nothing that ran before."""
    from lapa_bench.rollout import seed_everything

    claim_training(method, cfg, inputs, out)
    seed_everything(next((tc.seed for _, tc in train_stages(cfg)), 0), 0)
    return method.train(cfg, inputs, out, device)


def claim_training(method: Method, cfg, inputs: Inputs, out) -> bool:
    """Check ``out``'s fingerprint against this run's settings (recording it for a new run); returns whether
    the run there is finished. Raises :class:`lapa_bench.fingerprint.FingerprintMismatch` on a mismatch."""
    from lapa_bench.training import checkpoint

    done = checkpoint.is_done(out)
    claim_settings(method, training_settings(method, cfg, inputs), out, exists=done or checkpoint.resume_step(out) > 0,
                   fix=f"delete {out} to train it again, or give this run another output folder")
    return done


def claim_settings(method: Method, settings: dict, out, exists: bool, fix: str) -> None:
    """:func:`lapa_bench.fingerprint.claim` of a training run's ``settings`` (:func:`training_settings`), keys
    a fingerprint lacks counting as the method's config defaults."""
    from lapa_bench import fingerprint
    from lapa_bench.config import to_dict

    fingerprint.claim(out, settings, f"a {method.name} training run", exists=exists, fix=fix,
                      defaults={"config": to_dict(method.config_class())})


def training_settings(method: Method, cfg, inputs: Inputs | None = None, corpora: dict | None = None) -> dict:
    """A training run's fingerprint settings: method, resolved config, and its corpora's dataset settings, read
    from ``inputs``' folders or, where the data is not at hand, given as ``corpora`` (corpus -> a list of
    :func:`lapa_bench.data.lerobot.dataset_settings`, e.g. from the folders' sidecars)."""
    from lapa_bench.config import to_dict
    from lapa_bench.data.lerobot import dataset_settings

    if corpora is None:
        corpora = {c: [dataset_settings(d) for d in getattr(inputs, c)] for c in CORPORA}
    return {"method": method.name, "config": to_dict(cfg), "inputs": {c: corpora.get(c, []) for c in CORPORA}}


def train_stages(cfg, prefix: str = ""):
    """Every training stage of a method's config: ``(dotted path, TrainConfig)``, in field order
    (e.g. LAPA's ``("laq.train", ...), ("pretrain", ...), ("finetune", ...)``)."""
    import dataclasses

    from lapa_bench.training.loop import TrainConfig

    if isinstance(cfg, TrainConfig):
        yield prefix.rstrip("."), cfg
    elif dataclasses.is_dataclass(cfg):
        for f in dataclasses.fields(cfg):
            yield from train_stages(getattr(cfg, f.name), f"{prefix}{f.name}.")


def available_methods() -> list[str]:
    _discover()
    return sorted(_METHODS)


def broken_methods() -> dict[str, str]:
    _discover()
    return dict(_BROKEN)


def get_method(name: str) -> Method:
    _discover()
    if name not in _METHODS:
        raise UnknownName(plugins.unknown("training method", "methods", name, _METHODS, _BROKEN))
    return _METHODS[name]
