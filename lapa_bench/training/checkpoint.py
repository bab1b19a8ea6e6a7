"""The one checkpoint layout, for every trained model (LAQ, VLA stages, IDM, UniPi's video model).

    OUT/config.json         {"policy": NAME} or {"model": NAME}, plus "config": the model's resolved config
    OUT/model.safetensors   the weights (buffers such as action bins and normalizer stats included)
    OUT/eval.json           held-out metrics: written last, it is the *done marker* of a training run
    OUT/last/               resume point: the same two files + optimizer.pt + trainer_state.json + rng.pt (every RNG
                            and the batch order: a resumed run ends where an uninterrupted one would)
    OUT/log.csv             training log (one row every ``log_every`` steps)
    OUT/best/               with ``keep: best``: the best held-out step's weights + best.json
    OUT/fingerprint.json    the settings that made it (lapa_bench.fingerprint); in a folder of stages several runs
                            share (:func:`shared_stages`), what those stages were built from
    OUT/half.json           only when `lapa-bench checkpoint half` stored the weights in float16 (:func:`to_half`):
                            the training-layout check in float32 and in float16, both files' fingerprints

Every file is written atomically (temp file + rename), so a crash never leaves a torn checkpoint.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from lapa_bench.errors import MissingFile, UserError
from lapa_bench.io import atomic_path, write_json_atomic

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
EVAL_FILE = "eval.json"
STATE_FILE = "trainer_state.json"
LAST = "last"
BEST = "best"  # OUT/best: the weights of the best held-out evaluation so far (train.keep best)


def save_module(module, directory, header: dict, config: dict) -> Path:
    """Weights of ``module`` and ``{**header, "config": config}`` into ``directory``."""
    d = save_weights(module, directory)
    write_json_atomic(d / CONFIG_FILE, {**header, "config": config}, sort_keys=True)
    return d


def save_weights(module, directory) -> Path:
    """``directory/model.safetensors`` (atomically)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(d / MODEL_FILE)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, tmp)
    os.replace(tmp, d / MODEL_FILE)
    return d


HALF_MIN_NUMEL = 1024  # smaller float tensors (normalizer statistics, action bins, norms, biases) stay float32


def halvable(directory, min_numel: int = HALF_MIN_NUMEL) -> list[str]:
    """The tensors :func:`to_half` would store in float16 (float32, at least ``min_numel`` elements), read from the
    file's header alone; raises when there are none (the weights are half precision already)."""
    import math

    from safetensors import safe_open

    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise MissingFile(f"{path} does not exist: give a checkpoint folder (config.json + {MODEL_FILE})")
    with safe_open(path, "pt") as f:
        big = [k for k in f.keys()
               if f.get_slice(k).get_dtype() == "F32" and math.prod(f.get_slice(k).get_shape()) >= min_numel]
    if not big:
        raise UserError(f"{path} has no float32 tensor of {min_numel}+ elements: it is half precision already")
    return big


def to_half(directory, min_numel: int = HALF_MIN_NUMEL) -> dict:
    """Rewrite ``directory/model.safetensors`` with every float32 tensor of at least ``min_numel`` elements in
    float16 (loading copies them back into the model's float32 parameters). Returns what changed. An evaluation
    names its checkpoint by its files (:func:`lapa_bench.fingerprint.files_fingerprint`): convert before
    evaluating, never a checkpoint whose evaluations are kept."""
    from safetensors.torch import load_file, save_file

    big = set(halvable(directory, min_numel))
    path = Path(directory) / MODEL_FILE
    weights = load_file(path)
    before = path.stat().st_size
    tmp = atomic_path(path)
    save_file({k: (v.half() if k in big else v).contiguous() for k, v in weights.items()}, tmp)
    os.replace(tmp, path)
    kept = [k for k, v in weights.items() if v.is_floating_point() and k not in big]
    return {"converted": len(big), "kept_float32": len(kept), "min_numel": min_numel,
            "bytes": {"before": before, "after": path.stat().st_size}}


def checkpoint_folder(directory, what: str) -> Path:
    """``directory``, refused unless it holds a checkpoint (``config.json`` and the weights); ``what`` says what the
    folder should be (for the error)."""
    d = Path(directory)
    if not (d / CONFIG_FILE).is_file() or not (d / MODEL_FILE).is_file():
        raise MissingFile(f"{d} is not {what} (needs {CONFIG_FILE} and {MODEL_FILE})")
    return d


def read_payload(directory, what: str) -> dict:
    """A checkpoint's ``config.json`` as written (``{"policy" or "model": ..., "config": {...}}``)."""
    return json.loads((checkpoint_folder(directory, what) / CONFIG_FILE).read_text())


def read_config(directory, what: str) -> dict:
    """The ``config`` dict of a checkpoint; ``what`` says what the folder should be (for the error)."""
    payload = read_payload(directory, what)
    return dict(payload.get("config", payload))


def load_weights(module, directory, map_location: str = "cpu", strict: bool = True):
    from safetensors.torch import load_file

    path = Path(directory) / MODEL_FILE
    try:
        weights = load_file(path, device=map_location)
    except Exception as e:  # safetensors' own error for a truncated or damaged file
        raise UserError(f"{path} cannot be read ({type(e).__name__}: {e}): the file is incomplete or damaged "
                         "(an interrupted copy?); copy it again or retrain") from None
    module.load_state_dict(weights, strict=strict)
    return module


def load_module(cls, config_cls, directory, what: str, map_location: str = "cpu", config=None):
    """Rebuild ``cls(config)`` from a checkpoint folder and load its weights; ``config``: the folder's config as
    its caller has already read it (a policy's), else it is read here."""
    from lapa_bench.config import from_dict

    if config is None:
        config = from_dict(config_cls, read_config(directory, what), where=f"{directory}/config.json")
    else:
        checkpoint_folder(directory, what)
    return load_weights(cls(config), directory, map_location)


# -- resume and done -----------------------------------------------------------------------
def save_state(directory, model, optimizer, step: int, extra: dict) -> None:
    """``last/``: the model (its own ``save_pretrained``), optimizer and step, for resuming."""
    import torch

    d = Path(directory)
    model.save_pretrained(d)
    tmp = atomic_path(d / "optimizer.pt")
    torch.save(optimizer.state_dict(), tmp)
    os.replace(tmp, d / "optimizer.pt")
    write_json_atomic(d / STATE_FILE, {"step": step, **extra})


def load_state(directory, model, optimizer, device) -> int:
    """Load ``last/`` into ``model`` and ``optimizer``; returns the step (0 when there is nothing)."""
    import torch

    d = Path(directory)
    if not (d / STATE_FILE).is_file() or not (d / MODEL_FILE).is_file():
        return 0
    load_weights(model, d)
    if (d / "optimizer.pt").is_file():
        optimizer.load_state_dict(torch.load(d / "optimizer.pt", map_location=device))
    return int(json.loads((d / STATE_FILE).read_text())["step"])


def resume_step(out) -> int:
    p = Path(out) / LAST / STATE_FILE
    return int(json.loads(p.read_text())["step"]) if p.is_file() else 0


def is_done(out) -> bool:
    """A training run is done when its checkpoint and its ``eval.json`` exist."""
    out = Path(out)
    return (out / CONFIG_FILE).is_file() and (out / EVAL_FILE).is_file()


def finish(out, metrics: dict) -> dict:
    write_json_atomic(Path(out) / EVAL_FILE, metrics)
    return metrics


def save_best(directory, model, step: int, metric: str, value: float) -> None:
    """The weights of the best held-out evaluation so far, and which step and value it was."""
    write_json_atomic(save_weights(model, directory) / "best.json", {"step": step, "metric": metric, "value": value})


def best_info(directory) -> dict | None:
    """best.json (step, metric, value) of ``OUT/best``, or None before any."""
    p = Path(directory) / "best.json"
    return json.loads(p.read_text()) if p.is_file() else None


def load_best(directory, model, device) -> None:
    """Load the best weights into ``model``."""
    load_weights(model, directory, str(device))


# -- stages shared by several runs ----------------------------------------------------------
NOT_COMPARED = ("seed",)  # besides lapa_bench.fingerprint.NOT_DETERMINING: shared stages may differ in training seeds


def shared_stages(directory, built_from: dict, by: str, defaults: dict | None = None) -> Path:
    """Claim ``directory`` for stages that several runs share (e.g. LAPA's LAQ and latent pretraining, which
    use only the videos), with the fingerprint of ``built_from`` (the settings and corpora those stages
    depend on: :func:`lapa_bench.fingerprint.claim`, which also records ``by``, the run that trained them).
    A later run must bring the same settings (training seeds aside: the pipeline keeps one folder per seed
    unless it shares across seeds), else this stops with the settings that differ, before any training on
    top of the wrong stages. ``defaults``: ``built_from`` of a default config (keys added since count as theirs)."""
    from lapa_bench import fingerprint

    d = Path(directory)
    settings = fingerprint.canonical(built_from, drop=fingerprint.NOT_DETERMINING | set(NOT_COMPARED))
    # any stage trained or started in it (whatever the method calls its stages)
    exists = d.is_dir() and any((s / CONFIG_FILE).is_file() or (s / LAST).is_dir() for s in d.iterdir() if s.is_dir())
    fingerprint.claim(d, settings, f"shared stages (first trained by {by})", exists=exists,
                      fix=f"remove {d} to train them again, or give this run another output folder",
                      defaults=None if defaults is None else
                      fingerprint.canonical(defaults, drop=fingerprint.NOT_DETERMINING | set(NOT_COMPARED)))
    return d
