"""One-off migration of the committed artifacts under results/ into today's form, so the code reads one form only.

    python scripts/migrate_artifacts.py            # rewrite, and record what changed in results/migration.json
    python scripts/migrate_artifacts.py --check    # list what would change; exit 1 if anything would

What it rewrites (nothing that a result is computed from: no outcome, weight or setting changes):

1. Training time: ``train.seconds_this_session`` (the last process's wall time, written beside ``seconds``, the
   whole run's) is dropped; where a run recorded only the last process's time (runs made before resumptions were
   summed) it becomes ``seconds`` with ``seconds_of: "last process"``.
2. Evaluation folders whose manifest kept ``identity_before`` (an identity that named the checkpoint by its path,
   before checkpoints were named by their files): their records' ``run_id`` becomes the current identity's run
   id, and ``identity_before`` goes.
3. Training-layout checks made before they recorded the weights they ran: ``checkpoint_fingerprint`` is added from
   the committed checkpoint (whose weights have not changed since: a later conversion, ``checkpoint half``,
   records its own check).
4. Records of checkpoint configs that stored the runtime ``device`` (not a setting of the model): the key goes.
5. Paths of the machine that ran: an evaluation manifest's asset ``dir`` goes (today's record the pack's
   fingerprint instead), its config's ``out`` and ``checkpoint``, and a training-layout check's ``checkpoint``,
   become relative to the repository (``results/...``).

Rerun it after a cell made by an older revision lands (it is idempotent).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path):
    text = path.read_text()
    return text, json.loads(text)


def _dump(path: Path, text: str, data) -> str:
    """``data`` in the file's own style (indent, key order, final newline)."""
    indent = 2 if text.startswith("{\n  ") or text.startswith("[\n  ") else None
    out = json.dumps(data, indent=indent)
    return out + ("\n" if text.endswith("\n") else "")


def _walk(o):
    if isinstance(o, dict):
        yield o
        for v in o.values():
            yield from _walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from _walk(v)


def _in_repo(path: str) -> Path | None:
    """A path recorded on another machine (…/results/X) as this checkout's."""
    p = Path(path) if Path(path).is_absolute() else REPO / path
    if p.is_dir():
        return p
    parts = p.parts
    if "results" in parts:
        q = REPO.joinpath(*parts[parts.index("results"):])
        return q if q.is_dir() else None
    return None


def training_time(path: Path, text: str, data) -> str | None:
    if "seconds_this_session" not in text:
        return None
    for d in _walk(data):
        if "seconds_this_session" in d:
            last = d.pop("seconds_this_session")
            if "seconds" not in d:
                d["seconds"], d["seconds_of"] = last, "last process"
    return _dump(path, text, data)


def run_ids(manifest: Path, data) -> dict[Path, str]:
    """Records rewritten for an evaluation folder whose manifest kept ``identity_before``."""
    from lapa_bench.app.evaluate import _run_id

    before = data.get("identity_before")
    if not before:
        return {}
    ck = data["config"].get("checkpoint")
    where = _in_repo(ck) if ck else None
    old, new = _run_id(before, str(where) if where else None), _run_id(data["identity"], str(where) if where else None)
    out = {}
    for rec in sorted(manifest.parent.glob("records*.jsonl")):
        text = rec.read_text()
        if f'"run_id": "{old}"' in text:
            out[rec] = text.replace(f'"run_id": "{old}"', f'"run_id": "{new}"')
    return out


def check_fingerprint(path: Path, text: str, data) -> str | None:
    from lapa_bench.fingerprint import files_fingerprint

    if not isinstance(data, dict) or "episodes" not in data or not data.get("checkpoint") or \
            "checkpoint_fingerprint" in data:
        return None
    where = _in_repo(data["checkpoint"])
    if where is None:
        return None
    data["checkpoint_fingerprint"] = files_fingerprint(where)
    return _dump(path, text, data)


def runtime_device(path: Path, text: str, data) -> str | None:
    if path.name != "config.json" or not isinstance(data, dict) or not isinstance(data.get("config"), dict) or \
            "device" not in data["config"] or not ({"policy", "model"} & set(data)):
        return None
    del data["config"]["device"]
    return _dump(path, text, data)


def _relative(path):
    """An absolute path of another machine's checkout (…/results/X) as the repository's ``results/X``."""
    if not isinstance(path, str) or not path.startswith("/"):
        return path
    parts = Path(path).parts
    return Path(*parts[parts.index("results"):]).as_posix() if "results" in parts else path


def machine_paths(path: Path, text: str, data) -> str | None:
    if not isinstance(data, dict):
        return None
    changed = False
    if path.name.startswith("manifest") and isinstance(data.get("assets"), dict) and "dir" in data["assets"]:
        del data["assets"]["dir"]
        changed = True
    for holder, keys in ((data.get("config") if path.name.startswith("manifest") else None, ("out", "checkpoint")),
                         (data if "episodes" in data else None, ("checkpoint",))):
        if not isinstance(holder, dict):
            continue
        for k in keys:
            new = _relative(holder.get(k))
            if new != holder.get(k):
                holder[k] = new
                changed = True
    return _dump(path, text, data) if changed else None


def plan() -> dict[Path, str]:
    """Every file that changes -> its new text."""
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    changes: dict[Path, str] = {}
    for name in tracked:
        path = REPO / name
        if path.suffix != ".json" or not path.is_file():
            continue
        text, data = _load(path)
        new = text
        for step in (training_time, check_fingerprint, runtime_device, machine_paths):
            got = step(path, new, json.loads(new))
            new = got if got is not None else new
        if new != text:
            changes[path] = new
        if path.name == "manifest.json" and isinstance(data, dict) and data.get("identity_before"):
            changes.update(run_ids(path, data))
            data.pop("identity_before")
            changes[path] = _dump(path, text, data)
    return changes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="list what would change; exit 1 if anything would")
    args = ap.parse_args(argv)
    changes = plan()
    for p in sorted(changes):
        print(p.relative_to(REPO))
    if args.check:
        return 1 if changes else 0
    for p, text in changes.items():
        p.write_text(text)
    record = REPO / "results" / "migration.json"
    done = json.loads(record.read_text()) if record.is_file() else {
        "what": "scripts/migrate_artifacts.py (its docstring says what each step rewrites)", "files": []}
    done["files"] = sorted(set(done["files"]) | {str(p.relative_to(REPO)) for p in changes})
    record.write_text(json.dumps(done, indent=2) + "\n")
    print(f"[migrate] {len(changes)} files rewritten; the list: {record.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
