"""The one normalizer of actions and states, read from a dataset's ``meta/stats.json``.

``Normalizer.from_datasets(sources, keys)`` merges the stats of several datasets (count-weighted, as
LeRobot aggregates them); ``normalize``/``unnormalize`` map to zero mean and unit std (``mean_std``)
or to [-1, 1] (``min_max``). ``to_dict``/``from_dict`` store it in a checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.errors import MissingFile, UnknownName, UserError

MODES = ("mean_std", "min_max")


def read_stats(root) -> dict:
    """``meta/stats.json``, or (LeRobot's own v2.1 writer keeps only per-episode stats) the count-weighted
    aggregate of ``meta/episodes_stats.jsonl``, as LeRobot's loader computes it."""
    p, per_episode = Path(root) / "meta" / "stats.json", Path(root) / "meta" / "episodes_stats.jsonl"
    if p.is_file():
        return json.loads(p.read_text())
    if per_episode.is_file():
        return aggregate_stats([json.loads(line)["stats"] for line in per_episode.read_text().splitlines()
                                if line.strip()])
    raise MissingFile(f"{root} has neither meta/stats.json nor meta/episodes_stats.jsonl: no statistics to "
                            "normalize with (datasets written by `lapa-bench collect` have both)")


def merge_stats(parts: list[dict]) -> dict:
    """Count-weighted merge of per-dataset stats (``min max mean std count``) of one feature."""
    shape = np.shape(parts[-1]["mean"])  # (D,), or (C, 1, 1) for images (older datasets stored images as (C,))
    arr = lambda k: np.array([np.reshape(p[k], shape) for p in parts], dtype=np.float64)  # noqa: E731
    mean, var = arr("mean"), arr("std") ** 2
    n = np.array([p["count"][0] for p in parts], dtype=np.float64).reshape(-1, *[1] * (mean.ndim - 1))
    tot = n.sum()
    m = (n * mean).sum(0) / tot
    v = (n * (var + (mean - m) ** 2)).sum(0) / tot
    return {"min": arr("min").min(0).tolist(), "max": arr("max").max(0).tolist(),
            "mean": m.tolist(), "std": np.sqrt(v).tolist(), "count": [int(tot)]}


def aggregate_stats(episode_stats: list[dict]) -> dict:
    """Every feature's per-episode stats (``{feature: {min max mean std count}}`` per episode) merged."""
    keys = dict.fromkeys(k for e in episode_stats for k in e)
    return {k: merge_stats([e[k] for e in episode_stats if k in e]) for k in keys}


@dataclass
class Normalizer:
    stats: dict = field(default_factory=dict)  # feature -> {"mean", "std", "min", "max"} lists
    mode: str = "mean_std"
    eps: float = 1e-6

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"normalizer mode {self.mode!r}; choose from {MODES}")

    @classmethod
    def from_datasets(cls, sources, keys=("action",), mode: str = "mean_std") -> "Normalizer":
        roots = []
        for s in sources:
            r = Path(getattr(s, "root", s))
            if r not in roots:
                roots.append(r)
        per = [read_stats(r) for r in roots]
        stats = {}
        for k in keys:
            have = [p[k] for p in per if k in p]
            if not have:
                raise UnknownName(f"no dataset of {[str(r) for r in roots]} has stats for {k!r}")
            stats[k] = {a: b for a, b in merge_stats(have).items() if a != "count"}
        return cls(stats, mode)

    def _ab(self, key):
        s = self.stats[key]
        if self.mode == "mean_std":
            return np.asarray(s["mean"], np.float32), np.maximum(np.asarray(s["std"], np.float32), self.eps)
        lo, hi = np.asarray(s["min"], np.float32), np.asarray(s["max"], np.float32)
        return (hi + lo) / 2, np.maximum((hi - lo) / 2, self.eps)

    def normalize(self, key: str, x):
        a, b = self._ab(key)
        return (x - _like(a, x)) / _like(b, x)

    def unnormalize(self, key: str, x):
        a, b = self._ab(key)
        return x * _like(b, x) + _like(a, x)

    def to_dict(self) -> dict:
        return {"stats": self.stats, "mode": self.mode, "eps": self.eps}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls(**d)


def _like(a: np.ndarray, x):
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return torch.as_tensor(a, dtype=x.dtype, device=x.device)
    except ImportError:  # pragma: no cover
        pass
    return a
