"""Crash-safe file writes: the one atomic-write helper (write a temp file, then rename)."""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_bytes_atomic(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def write_text_atomic(path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path, payload, **kw) -> Path:
    kw.setdefault("indent", 2)
    return write_text_atomic(path, json.dumps(payload, default=str, **kw))


def atomic_path(path) -> Path:
    """A temp name beside ``path`` for writers that need a file name (video, safetensors); ``os.replace`` it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
