"""Episode records: one JSON line per finished episode, appended atomically; and the manifest.

A record is written with a single ``write`` of one line on a file opened with ``O_APPEND`` and
then ``fsync``-ed, so a process killed at any instant (``kill -9``) leaves either the whole line
or, at worst, a torn last line, which :func:`read_records` drops and :class:`RecordWriter`
cuts off before appending. Each shard writes its own file, so shards never share a file.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORD_GLOB = "records*.jsonl"


@dataclass
class EpisodeRecord:
    policy: str
    checkpoint: str | None
    task: str  # ManiSkill env id
    episode_id: int
    seed: int
    success_at_end: bool = False
    success_once: bool = False
    grasped: bool = False  # is_src_obj_grasped at any step
    consecutive_grasp: bool = False  # grasped for >= 5 consecutive steps at some point
    steps: int = 0
    wall_seconds: float = 0.0
    error: str | None = None  # why the episode failed to run (policy raised, bad action, ...)
    outcome: str | None = None  # why it ended as it did (lapa_bench.rollout.OUTCOMES); None in old records
    label: str | None = None  # name shown in reports (defaults to policy)
    video: str | None = None
    run_id: str | None = None  # hash of the run's identity + checkpoint (EvalConfig.run_id); None in old records
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.task, int(self.episode_id), int(self.seed))


def record_file(out_dir: Path, shard: tuple[int, int] | None) -> Path:
    if shard is None or shard[1] == 1:
        return Path(out_dir) / "records.jsonl"
    i, n = shard  # 0-based internally; file names use the command line's 1-based I/N
    return Path(out_dir) / f"records.shard-{i + 1}-of-{n}.jsonl"


def read_records(out_dir: Path, skipped: list | None = None) -> list[dict]:
    """All complete records of a run dir (every shard file). Torn last lines and lines that are not JSON
    records are left out; ``skipped`` (a list) receives ``"FILE:LINE: why"`` for each, to be reported."""
    rows = []
    for f in sorted(Path(out_dir).glob(RECORD_GLOB)):
        with open(f, "rb") as fh:
            for n, line in enumerate(fh, 1):
                why = None
                if not line.endswith(b"\n"):
                    why = "torn last line (a process killed mid-write)"
                else:
                    try:
                        row = json.loads(line)
                        if not isinstance(row, dict) or not {"task", "episode_id", "seed"} <= set(row):
                            why = "not an episode record"
                        else:
                            rows.append(row)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        why = "not JSON"
                if why and skipped is not None:
                    skipped.append(f"{f}:{n}: {why}")
    return rows


def latest_records(out_dir: Path) -> dict[tuple[str, int, int], dict]:
    """The last record of each (task, episode id, seed): a retried episode's new record replaces the old."""
    return {(r["task"], int(r["episode_id"]), int(r["seed"])): r for r in read_records(out_dir)}


def done_keys(out_dir: Path, retry_errors: bool = False) -> set[tuple[str, int, int]]:
    """Episodes that need no run; with ``retry_errors``, an episode whose latest record has an error is
    not done (it runs again, and its new record is the one reports use)."""
    return {k for k, r in latest_records(out_dir).items() if not (retry_errors and r.get("error"))}


class RecordWriter:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()

    def _repair(self) -> None:
        """Cut a torn last line (left by a process killed mid-write)."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)

    def append(self, record: EpisodeRecord | dict) -> None:
        row = asdict(record) if isinstance(record, EpisodeRecord) else dict(record)
        line = (json.dumps(row, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
