"""Action-free video corpora: a folder of videos with an optional Something-Something v2 labels file.

Layout (as SSv2 ships it)::

    videos/            1.webm, 2.webm, ...   (or .mp4)
    labels.json        [{"id": "1", "label": "Putting a cup on a table", "template": "Putting [something] on [something]"}, ...]

``labels.json`` is optional; without it the instruction is empty. Frames are decoded with
imageio-ffmpeg (bundled ffmpeg) and can be resized on the fly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lapa_bench.data.lerobot import DatasetFormatError

VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mkv")


class VideoFolder:
    def __init__(self, root, labels: str | Path | None = None, instruction_field: str = "label"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetFormatError(f"video folder {self.root} does not exist")
        vdir = self.root / "videos" if (self.root / "videos").is_dir() else self.root
        self.paths = {p.stem: p for p in sorted(vdir.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}
        if not self.paths:
            raise DatasetFormatError(f"{vdir} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
        self.labels: dict[str, str] = {}
        labels = Path(labels) if labels else next((p for p in (self.root / "labels.json",) if p.is_file()), None)
        if labels is not None:
            try:
                rows = json.loads(Path(labels).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise DatasetFormatError(f"labels file {labels} is not readable JSON: {e}") from None
            if not isinstance(rows, list) or any(not isinstance(r, dict) or "id" not in r for r in rows):
                raise DatasetFormatError(f"{labels}: expected a list of objects with 'id' and 'label'/'template'")
            for r in rows:
                text = r.get(instruction_field) or r.get("label") or r.get("template") or ""
                self.labels[str(r["id"])] = text.replace("[", "").replace("]", "")
        self.ids = list(self.paths)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dataset_id(self) -> str:
        import hashlib

        return f"{self.root.name}-{hashlib.sha1(' '.join(self.ids).encode()).hexdigest()[:10]}"

    def instruction(self, i: int) -> str:
        return self.labels.get(self.ids[i], "")

    def frames(self, i: int, size: tuple[int, int] | None = None) -> np.ndarray:
        from lapa_bench.data.lerobot import read_video

        out = read_video(self.paths[self.ids[i]])
        if size is not None:
            from lapa_bench.data.preprocess import resize_frames

            out = resize_frames(out, size)
        return out
