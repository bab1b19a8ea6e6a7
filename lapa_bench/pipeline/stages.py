"""The pipeline's stages: each cached in ``OUT/pipeline.json`` with its command, revision, device and wall time."""
from __future__ import annotations

import json
import time
from pathlib import Path


class Stages:
    """Runs named stages once, records their wall time, and prints what it does."""

    def __init__(self, out: Path, needs_sim=(), check_sim=None, device: str = "auto"):
        self.needs_sim, self.check_sim = set(needs_sim), check_sim  # assets are checked only when needed
        self.device = device  # where this process trains: recorded with each stage
        self.path = out / "pipeline.json"
        self.state = json.loads(self.path.read_text()) if self.path.is_file() else {"stages": {}}

    def run(self, name: str, fn, done: bool = False, accumulate: bool = False):
        """``done``: skip when already finished. ``accumulate``: a stage that is re-entered to resume
        (evaluation) adds this call's seconds to those recorded before instead of replacing them."""
        rec = self.state["stages"].get(name, {})
        if done and rec.get("status") == "done":
            print(f"[pipeline] {name}: cached ({rec.get('seconds', 0):.0f} s when it ran)")
            return
        if name in self.needs_sim and self.check_sim is not None:
            self.check_sim()
        print(f"[pipeline] {name}: running")
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0 + (rec.get("seconds", 0) if accumulate and rec.get("status") == "done" else 0)
        self.state["stages"][name] = {"status": "done", "seconds": round(dt, 1), **self.provenance}
        self._save(name)
        print(f"[pipeline] {name}: done in {dt:.0f} s")

    @property
    def provenance(self) -> dict:
        """What a finished stage records beside its wall time: the command, revision, device and when."""
        import sys

        from lapa_bench import provenance

        return {"command": " ".join(["lapa-bench", *sys.argv[1:]]) if sys.argv and "lapa" in sys.argv[0] else None,
                "revision": provenance.git_sha(), "device": self.device, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _save(self, name: str):
        """Write this stage's entry; several pipeline processes may share OUT (``--cells``): each adds its own
        entries to what is in the file now, under a file lock."""
        import fcntl

        from lapa_bench.io import write_json_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = json.loads(self.path.read_text()) if self.path.is_file() else {"stages": {}}
            now["stages"][name] = self.state["stages"][name]
            write_json_atomic(self.path, now)
            self.state = now

    def summary(self) -> str:
        w = max([len(k) for k in self.state["stages"]] + [28])
        rows = [f"  {k:<{w}} {v['seconds']:>8.0f} s" for k, v in self.state["stages"].items()]
        total = sum(v["seconds"] for v in self.state["stages"].values())
        return "\n".join(["[pipeline] stage wall times:", *rows, f"  {'total':<{w}} {total:>8.0f} s"])


GROUPS = ("data", "train", "eval", "report")


def stop(st: "Stages", out: Path, until: str) -> Path:
    print(st.summary())
    print(f"[pipeline] stopped after the '{until}' stages (--until {until}); rerun without --until to go on")
    return out

