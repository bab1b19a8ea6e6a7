"""Torch datasets for the three training stages, with train/validation split by episode.

* :class:`FramePairs`  -> ``{"x_t", "x_th", "instruction", "episode", "t"}`` for latent action
  quantization: frames t and t+H of one episode (uint8 HxWx3 -> float CxHxW in [0, 1]).
* :class:`StepSamples` -> ``{"image", "instruction", "target", "episode", "t"}`` for latent
  pretraining (target = latent codes or pseudo-actions of step t) and action finetuning
  (target = the recorded 7-D action).

Sources are anything with ``__len__``, ``frames(i)`` and an instruction: LeRobot datasets (with
or without actions) and :class:`~lapa_bench.data.videos.VideoFolder`. Decoded episodes are kept
in an LRU cache (``cache_episodes``), so a shuffled epoch decodes each video about once.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from lapa_bench.data.lerobot import LeRobotDataset


def split_episodes(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic split of episode indices; at least one validation episode when n > 1."""
    idx = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1 if n > 1 else 0, int(round(n * val_fraction))))
    return sorted(idx[n_val:].tolist()), sorted(idx[:n_val].tolist())


class _EpisodeSource:
    """Uniform access to episodes of several sources: (source, local index) pairs."""

    def __init__(self, sources, image_size=None, cache_episodes: int = 64):
        self.sources = list(sources)
        self.items = [(s, i) for s in self.sources for i in range(len(s))]
        self.image_size = tuple(image_size) if image_size else None
        self.cache_episodes = cache_episodes
        self._cache: OrderedDict = OrderedDict()

    def frames(self, e: int) -> np.ndarray:
        if e in self._cache:
            self._cache.move_to_end(e)
            return self._cache[e]
        src, i = self.items[e]
        f = src.frames(i)
        if self.image_size and f.shape[1:3] != self.image_size:
            import cv2

            f = np.stack([cv2.resize(x, self.image_size[::-1], interpolation=cv2.INTER_AREA) for x in f])
        self._cache[e] = f
        if len(self._cache) > self.cache_episodes:
            self._cache.popitem(last=False)
        return f

    def length(self, e: int) -> int:
        src, i = self.items[e]
        if isinstance(src, LeRobotDataset):
            return int(src.episodes[i]["length"])
        return len(self.frames(e))

    def instruction(self, e: int) -> str:
        src, i = self.items[e]
        if isinstance(src, LeRobotDataset):
            return (src.episodes[i].get("tasks") or [""])[0]
        return src.instruction(i)


def _to_tensor(img: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)


class FramePairs:
    """(x_t, x_{t+H}) pairs from every episode (or the listed ones) of the sources."""

    def __init__(self, sources, horizon: int = 1, episodes=None, image_size=None, cache_episodes: int = 64):
        if horizon < 1:
            raise ValueError("horizon H must be >= 1")
        self.src = _EpisodeSource(sources, image_size, cache_episodes)
        self.horizon = horizon
        eps = range(len(self.src.items)) if episodes is None else episodes
        self.index = [(e, t) for e in eps for t in range(self.src.length(e) - horizon)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        e, t = self.index[k]
        f = self.src.frames(e)
        return {"x_t": _to_tensor(f[t]), "x_th": _to_tensor(f[t + self.horizon]),
                "instruction": self.src.instruction(e), "episode": e, "t": t}


class StepSamples:
    """(image_t, instruction, target_t) samples; targets from the recorded actions or a labeller.

    ``targets``: ``"action"`` (LeRobot datasets with actions) or a dict ``{episode: array (T, ...)}``
    (latent codes / pseudo-actions written by a labeller) keyed by the global episode index.
    """

    def __init__(self, sources, targets="action", episodes=None, image_size=None, cache_episodes: int = 64):
        self.src = _EpisodeSource(sources, image_size, cache_episodes)
        eps = list(range(len(self.src.items)) if episodes is None else episodes)
        self.targets = {}
        for e in eps:
            if isinstance(targets, str):
                s, i = self.src.items[e]
                if not getattr(s, "has_actions", False):
                    raise ValueError(f"source {getattr(s, 'root', s)} has no actions; pass targets={{episode: array}}")
                self.targets[e] = s.episode(i, with_frames=False)[targets]
            else:
                self.targets[e] = np.asarray(targets[e])
        self.index = [(e, t) for e in eps for t in range(len(self.targets[e]))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        import torch

        e, t = self.index[k]
        return {"image": _to_tensor(self.src.frames(e)[t]), "instruction": self.src.instruction(e),
                "target": torch.as_tensor(self.targets[e][t]), "episode": e, "t": t}
