"""What made a cached artifact: one mechanism for every folder that a later command may reuse.

A folder that holds a cached or resumable artifact (a training run, the stages several runs share, a
collected dataset, an evaluation run) carries ``fingerprint.json``: the resolved settings that determine its
contents (and, for the corpora it was made from, *their* settings). A command that would reuse or resume the
folder first compares its own settings with the stored ones: equal, it goes on; different, it stops before any
work with every key that differs and both values, and says how to start over. Nothing is silently reused.

Settings that cannot change the artifact are left out of the comparison, and the list is explicit:
:data:`NOT_DETERMINING` (progress bars, log and save cadence, worker counts, the device a run uses: a training
resumed on another device is the same run).
"""
from __future__ import annotations

import json
from pathlib import Path

from lapa_bench.errors import UserError

FILE = "fingerprint.json"
# keys (at any depth) that never change what an artifact holds: progress bars, log/checkpoint cadence (resumes
# are exact: lapa_bench.training.loop), worker/process counts, the device a run used
NOT_DETERMINING = frozenset({"progress", "log_every", "save_every", "workers", "device"})


class FingerprintMismatch(UserError):
    """A folder holds an artifact made with other settings than the ones asked for now."""


def canonical(settings, drop=NOT_DETERMINING):
    """``settings`` as plain JSON types (tuples become lists), without the keys in ``drop`` at any depth."""
    def strip(obj):
        if isinstance(obj, dict):
            return {str(k): strip(v) for k, v in obj.items() if k not in drop}
        if isinstance(obj, (list, tuple)):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(json.dumps(settings, default=str)))


def differences(old, new, prefix: str = "") -> list[tuple[str, object, object]]:
    """Every dotted key where ``old`` and ``new`` differ, with the two values (missing: ``<absent>``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += differences(old.get(k, "<absent>"), new.get(k, "<absent>"), f"{prefix}{k}.")
        return out
    return [] if old == new else [(prefix.rstrip(".") or "(value)", old, new)]


def describe(diffs, limit: int = 8) -> str:
    lines = [f"{k}: {_short(a)} then, {_short(b)} now" for k, a, b in diffs[:limit]]
    more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(lines) + more


def _short(v) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= 80 else s[:77] + "..."


def read(folder) -> dict | None:
    p = Path(folder) / FILE
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return None


def _fill(theirs, defaults, mine):
    """``theirs`` with each key that ``mine`` has and it lacks taken from ``defaults`` (recursively)."""
    if not isinstance(theirs, dict) or not isinstance(defaults, dict) or not isinstance(mine, dict):
        return theirs
    out = {k: _fill(v, defaults.get(k), mine.get(k)) for k, v in theirs.items()}
    out.update({k: defaults[k] for k in mine if k not in theirs and k in defaults})
    return out


def claim(folder, settings: dict, what: str, exists: bool, fix: str, defaults: dict | None = None) -> dict:
    """Check (or, for a new artifact, record) ``folder``'s fingerprint; returns the canonical settings.

    ``exists``: the folder already holds something of this artifact (a finished or resumable run, episodes);
    such a folder without a fingerprint was made before fingerprints existed and is refused too (its settings
    are unknown). ``fix``: how to start over (e.g. "delete FOLDER or use another --out"). ``defaults``: the settings a
    default config gives; a key an older fingerprint lacks (a setting added since) counts as its default, which by
    this project's rule reproduces what was done before the setting existed.
    """
    from lapa_bench.io import write_json_atomic

    folder = Path(folder)
    mine = canonical(settings)
    old = read(folder)
    if old is None:
        if exists:
            raise FingerprintMismatch(f"{folder} holds {what} made without a record of its settings ({FILE}), so it "
                                      f"cannot be reused safely: {fix}")
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / FILE, {"what": what, "settings": mine}, sort_keys=True)
        return mine
    theirs = _fill(old.get("settings", {}), canonical(defaults) if defaults is not None else None, mine)
    diffs = differences(theirs, mine)
    if diffs:
        raise FingerprintMismatch(f"{folder} holds {what} made with other settings ({describe(diffs)}): {fix}")
    return mine


def files_fingerprint(directory) -> str:
    """A short hash of a checkpoint folder's files (``config.json`` and the weights: their sizes and first MiB,
    where two trainings differ): what an evaluation run and a policy server name a checkpoint by."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted(Path(directory).glob("*")):
        if f.is_file() and (f.name == "config.json" or f.suffix == ".safetensors"):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]
