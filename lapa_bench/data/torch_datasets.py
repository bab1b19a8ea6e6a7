"""Torch datasets for the three training stages, with train/validation split by episode.

* :class:`FramePairs`  -> ``{"x_t", "x_th", "instruction", "episode", "t"}`` for latent action
  quantization: frames t and t+H of one episode (uint8 HxWx3 -> float CxHxW in [0, 1]).
* :class:`StepSamples` -> ``{"image", "instruction", "target", "episode", "t"}`` for latent
  pretraining (target = latent codes or pseudo-actions of step t) and action finetuning
  (target = the recorded 7-D action).

Sources are anything with ``__len__``, ``frames(i)`` and an instruction: LeRobot datasets (with
or without actions) and :class:`~lapa_bench.data.videos.VideoFolder`. Frames go through the one
preprocessing path (:class:`~lapa_bench.data.preprocess.ImagePreprocess`). Decoded episodes are kept
in an LRU cache (``cache_episodes``), so a shuffled epoch decodes each video about once.
``collate(indices)`` stacks samples into the batch dict the training loop feeds to ``model.loss``.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.data.lerobot import LeRobotDataset


def split_episodes(n: int, val_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic split of episode indices; at least one validation episode when n > 1."""
    idx = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1 if n > 1 else 0, int(round(n * val_fraction))))
    return sorted(idx[n_val:].tolist()), sorted(idx[:n_val].tolist())


def _preprocess(image_size=None, preprocess=None):
    from lapa_bench.data.preprocess import ImagePreprocess

    if preprocess is not None:
        return preprocess
    if image_size is None:
        return None
    size = tuple(image_size) if not isinstance(image_size, int) else (image_size, image_size)
    if size[0] != size[1]:
        raise UserError(f"models take square images, got image_size {size}")
    return ImagePreprocess(size[0])


class _EpisodeSource:
    """Uniform access to episodes of several sources: (source, local index) pairs."""

    def __init__(self, sources, image_size=None, cache_episodes: int = 64, preprocess=None):
        self.sources = list(sources)
        self.items = [(s, i) for s in self.sources for i in range(len(s))]
        self.preprocess = _preprocess(image_size, preprocess)
        self.cache_episodes = cache_episodes
        self._cache: OrderedDict = OrderedDict()

    def frames(self, e: int) -> np.ndarray:
        if e in self._cache:
            self._cache.move_to_end(e)
            return self._cache[e]
        src, i = self.items[e]
        f = src.frames(i)
        if self.preprocess is not None:
            f = self.preprocess.frames(f)
        self._cache[e] = f
        if len(self._cache) > self.cache_episodes:
            self._cache.popitem(last=False)
        return f

    def length(self, e: int) -> int:
        src, i = self.items[e]
        if isinstance(src, LeRobotDataset):
            return int(src.episodes[i]["length"])
        return len(self.frames(e))

    def key(self, e: int) -> str:
        """The episode key (:func:`lapa_bench.data.episode_key`) of global episode ``e``."""
        from lapa_bench.data.lerobot import episode_key

        src, i = self.items[e]
        return episode_key(src, i)

    def instruction(self, e: int) -> str:
        src, i = self.items[e]
        if isinstance(src, LeRobotDataset):
            return (src.episodes[i].get("tasks") or [""])[0]
        return src.instruction(i)


def _to_tensor(img: np.ndarray):
    from lapa_bench.data.preprocess import to_tensor

    return to_tensor(img)


class FramePairs:
    """(x_t, x_{t+H}) pairs from every episode (or the listed ones) of the sources."""

    def __init__(self, sources, horizon: int = 1, episodes=None, image_size=None, cache_episodes: int = 64,
                 preprocess=None):
        if horizon < 1:
            raise UserError("horizon H must be >= 1")
        self.src = _EpisodeSource(sources, image_size, cache_episodes, preprocess)
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

    def collate(self, indices) -> dict:
        return _collate([self[int(k)] for k in indices])


class StepSamples:
    """(image_t, instruction, target_t) samples; targets from the recorded actions or a labeller.

    ``targets``: ``"action"`` (LeRobot datasets with actions) or a dict ``{episode: array (T, ...)}``
    (latent codes / pseudo-actions written by a labeller) keyed by the global episode index.
    ``extras``: more per-step arrays, ``{name: {episode: (T, ...)}}``, given as ``item[name]`` (e.g. the
    proprioceptive ``state``, or the raw ``action`` chunk beside its encoded target).
    """

    def __init__(self, sources, targets="action", episodes=None, image_size=None, cache_episodes: int = 64,
                 preprocess=None, extras: dict | None = None):
        self.src = _EpisodeSource(sources, image_size, cache_episodes, preprocess)
        self.extras = extras or {}
        eps = list(range(len(self.src.items)) if episodes is None else episodes)
        self.targets = {}
        for e in eps:
            if isinstance(targets, str):
                s, i = self.src.items[e]
                if not getattr(s, "has_actions", False):
                    raise UserError(f"source {getattr(s, 'root', s)} has no actions; pass targets={{episode: array}}")
                self.targets[e] = s.episode(i, with_frames=False)[targets]
            else:
                self.targets[e] = np.asarray(targets[e])
        self.index = [(e, t) for e in eps for t in range(len(self.targets[e]))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int) -> dict:
        import torch

        e, t = self.index[k]
        item = {"image": _to_tensor(self.src.frames(e)[t]), "instruction": self.src.instruction(e),
                "target": torch.as_tensor(self.targets[e][t]), "episode": e, "t": t}
        for name, arrays in self.extras.items():
            item[name] = torch.as_tensor(arrays[e][t], dtype=torch.float32)
        return item

    def collate(self, indices) -> dict:
        return _collate([self[int(k)] for k in indices])


def action_chunks(actions: np.ndarray, k: int) -> np.ndarray:
    """``(T, D)`` actions -> ``(T, k, D)``: at step t the actions t..t+k-1; past the episode's end the last
    action repeats (the arm holds, the gripper stays as it was)."""
    a = np.asarray(actions)
    idx = np.minimum(np.arange(len(a))[:, None] + np.arange(k)[None], len(a) - 1)
    return a[idx]


def episode_keys(sources, episodes) -> list[str]:
    """The :func:`~lapa_bench.data.lerobot.episode_key` of global episode indices (numbered over the
    concatenated ``sources``, as :func:`split_episodes` numbers them): which layouts a run held out."""
    from lapa_bench.data.lerobot import episode_key

    eps = [(s, i) for s in sources for i in range(len(s))]
    return [episode_key(*eps[e]) for e in episodes]


def chunk_samples(sources, episodes, chunk: int, preprocess, targets=None, state: bool = True,
                  actions: list | None = None, command_state: bool = False) -> StepSamples:
    """(image_t, instruction, state_t, actions t..t+chunk-1) samples of labelled sources: the data of every
    action-chunk policy. ``item["action"]`` is the raw chunk ``(chunk, 7)``; ``item["target"]`` the same or
    ``targets(chunks (T, chunk, 7))`` (e.g. bin indices). ``actions``: per global episode, actions to use
    instead of the recorded ones (e.g. an IDM's pseudo-actions of action-free videos). ``command_state``: the
    state gets the commanded state appended (``(12,)``; :mod:`lapa_bench.data.command`), rebuilt from the
    recorded actions."""
    eps = [(s, i) for s in sources for i in range(len(s))]
    data = [s.episode(i, with_frames=False) for s, i in eps]
    if state and any("observation.state" not in d for d in data):
        raise UserError("proprioceptive states are missing from the data (observation.state); "
                         "collect it with `lapa-bench collect`, or set proprio: false")
    acts = actions if actions is not None else [d["action"] for d in data]
    chunks = {e: action_chunks(a, chunk) for e, a in enumerate(acts)}
    extras = {"action": chunks}
    if state:
        extras["state"] = {e: d["observation.state"] for e, d in enumerate(data)}
    if state and command_state:
        from lapa_bench.data.command import check_executed_actions, command_features

        check_executed_actions(sources)
        extras["state"] = {e: np.concatenate([s, command_features(s, d["action"])], 1)
                           for (e, s), d in zip(extras["state"].items(), data)}
    return StepSamples(sources, {e: (targets(c) if targets else c) for e, c in chunks.items()}, episodes,
                       preprocess=preprocess, cache_episodes=10_000, extras=extras)


def _collate(items: list[dict]) -> dict:
    """Stack tensors, keep strings as lists (``episode``/``t`` stay for bookkeeping)."""
    import torch

    out = {}
    for k in items[0]:
        vals = [x[k] for x in items]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out
