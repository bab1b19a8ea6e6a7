"""What a run ran on: package versions, git revision, device, assets."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

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
