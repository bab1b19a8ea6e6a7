"""Discretized actions, as in OpenVLA: each of the 7 dimensions gets ``bins`` bins.

Edges (fitted on the finetuning data, stored in the checkpoint):

* ``uniform`` (default, OpenVLA): ``bins`` equal-width bins between the 1st and 99th percentile
  of the dimension; values outside fall into the first/last bin.
* ``quantile``: edges at the data's quantiles, so every bin holds about as many training values.

A bin decodes to the mean of the training values that fell into it, clipped to the bin (its
midpoint when none did),
so a binary dimension such as the gripper decodes exactly to -1 / +1.
"""
from __future__ import annotations

import numpy as np

from lapa_bench.errors import UserError

STRATEGIES = ("uniform", "quantile")


def fit_bins(actions: np.ndarray, bins: int, strategy: str = "uniform") -> tuple[np.ndarray, np.ndarray]:
    """Return ``edges (D, bins+1)`` and ``centers (D, bins)`` from actions ``(N, D)``."""
    if strategy not in STRATEGIES:
        raise UserError(f"unknown bin strategy {strategy!r}; choose from {STRATEGIES}")
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim != 2 or len(a) == 0:
        raise UserError(f"fit_bins needs actions of shape (N, D) with N > 0, got {a.shape}")
    D = a.shape[1]
    edges = np.zeros((D, bins + 1))
    centers = np.zeros((D, bins))
    for d in range(D):
        x = a[:, d]
        if strategy == "uniform":
            lo, hi = np.quantile(x, [0.01, 0.99])
            e = np.linspace(lo, hi, bins + 1)
        else:
            e = np.quantile(x, np.linspace(0, 1, bins + 1))
        edges[d] = np.maximum.accumulate(e)
        idx = _digitize(x, edges[d], bins)
        mid = (edges[d][:-1] + edges[d][1:]) / 2
        sums = np.bincount(idx, weights=x, minlength=bins)
        counts = np.bincount(idx, minlength=bins)
        mean = np.clip(sums / np.maximum(counts, 1), edges[d][:-1], edges[d][1:])  # outliers stay in range
        centers[d] = np.where(counts > 0, mean, mid)
    return edges.astype(np.float32), centers.astype(np.float32)


def _digitize(x, e, bins):
    return np.clip(np.searchsorted(e[1:-1], x, side="left"), 0, bins - 1)


def encode(actions: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Actions ``(..., D)`` -> bin indices ``(..., D)`` (int64)."""
    a = np.asarray(actions)
    bins = edges.shape[1] - 1
    out = np.stack([_digitize(a[..., d], edges[d], bins) for d in range(edges.shape[0])], -1)
    return out.astype(np.int64)


def decode(indices: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Bin indices ``(..., D)`` -> actions ``(..., D)`` (float32)."""
    idx = np.asarray(indices)
    return np.stack([centers[d][idx[..., d]] for d in range(centers.shape[0])], -1).astype(np.float32)
