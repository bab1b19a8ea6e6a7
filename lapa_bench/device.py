"""The one owner of the runtime device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (and ``mps``).

Model configs never store a device; training and rollouts ask :func:`resolve_device` at run time.
"""
from __future__ import annotations

import re

from lapa_bench.errors import UserError

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def parse_device(spec: str) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ``("cuda", 1)``; bad strings raise ``ValueError`` naming the valid forms."""
    m = _PATTERN.match(str(spec).strip().lower())
    if not m or (m.group(2) is not None and m.group(1) not in ("cuda",)):
        raise UserError(f"device {spec!r} is not valid; use auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps")
    return m.group(1), (int(m.group(2)) if m.group(2) is not None else None)


def resolve_device(spec: str = "auto"):
    """A ``torch.device``: ``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda:N`` is checked."""
    import torch

    kind, index = parse_device(spec)
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {spec!r} requested but CUDA is not available; use --device cpu")
        n = torch.cuda.device_count()
        if index is not None and index >= n:
            raise UserError(f"device {spec!r}: only {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
        return torch.device("cuda", index if index is not None else torch.cuda.current_device())
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' requested but it is not available; use --device cpu")
    return torch.device(kind)
