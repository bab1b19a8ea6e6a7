"""Inverse dynamics model, readable top to bottom.

    x_t, x_{t+1} (stacked: 6 channels) --conv stack--> global pool --MLP--> normalized 7-D action

Trained with MSE on actions normalized by the one normalizer (``meta/stats.json`` of the training
data, :mod:`lapa_bench.data.normalize`; its mean/std are stored in the weights).
The gripper dimension is absolute (-1 closes, +1 opens), the others are deltas (``lapa_bench.specs``).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lapa_bench.training import checkpoint
from lapa_bench.policies.idm.configuration_idm import IDMConfig


class IDM(nn.Module):
    def __init__(self, config: IDMConfig):
        super().__init__()
        self.config = c = config
        layers, ch = [], 6
        for i in range(c.depth):
            out = c.width * 2 ** i
            layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.GroupNorm(8, out), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.GroupNorm(8, out), nn.SiLU()]
            ch = out
        self.convs = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(ch, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.action_dim))
        self.register_buffer("action_mean", torch.zeros(c.action_dim))
        self.register_buffer("action_std", torch.ones(c.action_dim))

    def forward(self, x_t: torch.Tensor, x_next: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, 3, S, S)`` in [0, 1] -> normalized actions ``(B, 7)``."""
        h = self.convs(torch.cat([x_t, x_next], 1) * 2 - 1)
        return self.mlp(h.mean((2, 3)))

    def normalize(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_mean) / self.action_std

    def loss(self, batch: dict):
        """Training contract: ``batch`` has ``x_t``, ``x_th`` (the next frame) and ``action``."""
        return nn.functional.mse_loss(self(batch["x_t"], batch["x_th"]), self.normalize(batch["action"])), {}

    @torch.no_grad()
    def predict(self, x_t, x_next) -> torch.Tensor:
        """Actions in the env's units ``(B, 7)``."""
        return self(x_t, x_next) * self.action_std + self.action_mean

    def set_normalizer(self, normalizer) -> None:
        """Mean/std of the actions from the one normalizer (``Normalizer.from_datasets``)."""
        s = normalizer.stats["action"]
        self.action_mean.copy_(torch.as_tensor(s["mean"], dtype=torch.float32))
        self.action_std.copy_(torch.as_tensor(s["std"], dtype=torch.float32).clamp_min(1e-6))

    def save_pretrained(self, directory) -> Path:
        return checkpoint.save_module(self, directory, {"model": "idm"}, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu") -> "IDM":
        return checkpoint.load_module(cls, IDMConfig, directory, "an IDM checkpoint (train one with `lapa-bench idm "
                                      "train`)", map_location)
