"""What a run ran on: package versions, git revision, device, assets."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from lapa_bench.errors import UserError

PACKAGES = ("lapa-bench", "mani-skill", "sapien", "torch", "gymnasium", "numpy", "transformers", "pandas")


def package_versions() -> dict[str, str | None]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    out["python"] = platform.python_version()
    return out


def portable_path(path) -> str | None:
    """``path`` as a record keeps it: relative to the working directory when it lies below it (a results folder
    committed and cloned elsewhere reads the same), else as given."""
    if path is None:
        return None
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix() if p.is_absolute() else p.as_posix()
    except ValueError:
        return str(path)


def git_sha(path: Path | None = None) -> str | None:
    root = Path(path or Path(__file__).resolve().parent.parent)
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def configured_threads() -> int | None:
    """``LAPA_BENCH_THREADS``: the torch thread count for every process of a command (None: not set)."""
    import os

    v = os.environ.get("LAPA_BENCH_THREADS")
    if not v:
        return None
    if not v.isdigit() or int(v) < 1:
        raise UserError(f"LAPA_BENCH_THREADS={v!r}: give a whole number of threads >= 1 (e.g. 1), or unset it")
    return int(v)


def default_threads() -> int:
    """Torch threads per process: ``LAPA_BENCH_THREADS``, else an explicit ``OMP_NUM_THREADS``, else 1. Measured
    on the 2-core machine (results/benchmarks/threads_cpu.txt): one training step of the 64 px recipe takes
    0.089 s with one thread, 0.059 s with two when nothing else runs, but 0.375 s each when two such processes
    run at once (OpenMP's spin-waiting threads pre-empt each other), and 0.087 s each with one thread apiece.
    One thread per process never oversubscribes the cores; 2 is faster only on an otherwise idle machine."""
    import os

    return configured_threads() or int(os.environ.get("OMP_NUM_THREADS") or 1)


def apply_threads() -> None:
    """The command line's thread default (:func:`default_threads`) for this process and the processes it starts:
    torch's threads when torch is loaded, else ``OMP_NUM_THREADS`` before it loads (importing torch here would
    cost a command like `--help` seconds)."""
    import os
    import sys

    if "torch" in sys.modules:
        set_torch_threads(default_threads())
    else:
        os.environ["OMP_NUM_THREADS"] = str(default_threads())


def worker_threads(workers: int) -> int:
    """Threads per process when ``workers`` processes share the cores (never more threads than cores)."""
    import os

    return min(default_threads(), max(1, (os.cpu_count() or 1) // max(1, workers)))


def set_torch_threads(n: int = 1) -> None:
    """Worker-process initializer: ``n`` torch threads, so that parallel workers share the cores."""
    import torch

    torch.set_num_threads(n)


def torch_threads() -> int | None:
    """torch's intra-op thread count in this process (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def machine() -> dict:
    import os

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "processor": platform.processor()}
