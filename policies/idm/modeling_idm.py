"""Inverse dynamics model, readable top to bottom.

    x_t, x_{t+1} (stacked: 6 channels) --conv stack--> global pool --MLP--> normalized 7-D action

Trained with MSE on actions normalized by the training set's mean/std (stored in the weights).
The gripper dimension is absolute (-1 closes, +1 opens), the others are deltas (``lapa_bench.specs``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from policies import checkpoint


@dataclass
class IDMConfig:
    image_size: int = 64
    width: int = 32  # channels of the first conv; doubled at every downsampling
    depth: int = 4  # stride-2 conv blocks
    hidden: int = 256
    action_dim: int = 7

    def to_dict(self) -> dict:
        return asdict(self)


def idm_tiny() -> IDMConfig:
    return IDMConfig(image_size=64, width=32, depth=4, hidden=256)


def idm_full() -> IDMConfig:
    """Larger input and width (the paper's IDM for VPT is a ViT; this is a CNN of similar role)."""
    return IDMConfig(image_size=128, width=64, depth=5, hidden=1024)


PRESETS = {"tiny": idm_tiny, "full": idm_full}


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

    def loss(self, x_t, x_next, action) -> torch.Tensor:
        return nn.functional.mse_loss(self(x_t, x_next), self.normalize(action))

    @torch.no_grad()
    def predict(self, x_t, x_next) -> torch.Tensor:
        """Actions in the env's units ``(B, 7)``."""
        return self(x_t, x_next) * self.action_std + self.action_mean

    def set_stats(self, actions: np.ndarray) -> None:
        a = torch.as_tensor(np.asarray(actions), dtype=torch.float32)
        self.action_mean.copy_(a.mean(0))
        self.action_std.copy_(a.std(0).clamp_min(1e-6))

    def save_pretrained(self, directory) -> Path:
        return checkpoint.save(self, directory, {"model": "idm"})

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu") -> "IDM":
        m = checkpoint.load(cls, IDMConfig, directory, "an IDM checkpoint (train one with `lapa-bench idm train`)",
                            map_location)
        return m
