"""Continuous action outputs, shared by every model that regresses actions (``bc``, LAPA's ``l1`` action head).

A model's raw output per action is 7 numbers: dimensions 0-5, the end-effector deltas, in units normalized by
the training data's mean/std (``meta/stats.json``, :mod:`lapa_bench.data.normalize`); dimension 6, the gripper,
a logit (open when > 0). This module holds the three things that contract needs, so they cannot drift apart
between models:

* :func:`add_normalizer_buffers` / :func:`set_normalizer`: ``action_mean``/``action_std`` and
  ``state_mean``/``state_std`` buffers (saved in the checkpoint, so a policy needs no dataset to act);
* :func:`l1_gripper_loss`: L1 on the normalized deltas + logistic loss on the gripper;
* :func:`decode`: raw outputs -> actions in env units, gripper -1 / +1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lapa_bench.specs import GRIPPER_CLOSE, GRIPPER_OPEN


def add_normalizer_buffers(module: nn.Module, action_dim: int, state_dim: int) -> None:
    """Identity mean/std buffers (zeros, ones) until :func:`set_normalizer` fills them."""
    for prefix, dim in (("action", action_dim), ("state", state_dim)):
        module.register_buffer(f"{prefix}_mean", torch.zeros(dim))
        module.register_buffer(f"{prefix}_std", torch.ones(dim))


def set_normalizer(module: nn.Module, normalizer, command_state: bool, state: bool = True) -> None:
    """Copy the action's and (with ``state``) the proprio state's mean/std from the one normalizer into
    ``module``'s buffers; the commanded state's stats come from :func:`lapa_bench.data.command.state_stats`.
    A feature the normalizer does not hold keeps its buffers (action-free videos have no action)."""
    from lapa_bench.data.command import state_stats

    pairs = []
    if "action" in normalizer.stats:
        pairs.append(("action", normalizer.stats["action"]["mean"], normalizer.stats["action"]["std"]))
    if state and "observation.state" in normalizer.stats:
        pairs.append(("state", *state_stats(normalizer, command_state)))
    for prefix, mean, std in pairs:
        getattr(module, f"{prefix}_mean").copy_(torch.as_tensor(mean, dtype=torch.float32))
        getattr(module, f"{prefix}_std").copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-6))


def l1_gripper_loss(out: torch.Tensor, actions: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
    """``out`` (..., 7) raw outputs, ``actions`` (..., 7) in env units -> (loss, {"l1", "gripper_bce"})."""
    a = actions.float()
    delta = F.l1_loss(out[..., :-1], ((a - mean) / std)[..., :-1])
    grip = F.binary_cross_entropy_with_logits(out[..., -1], (a[..., -1] > 0).float())
    return delta + grip, {"l1": delta, "gripper_bce": grip}


def decode(out: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Raw outputs (..., 7) -> actions in env units: deltas unnormalized, gripper open / close by its logit."""
    act = out * std + mean
    act[..., -1] = torch.where(out[..., -1] > 0, GRIPPER_OPEN, GRIPPER_CLOSE)
    return act
