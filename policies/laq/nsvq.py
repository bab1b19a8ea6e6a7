"""Noise-substitution vector quantization (NSVQ, Vali & Bäckström 2022).

Forward (training): ``q = z + ||z - c_k|| * v / ||v||`` with ``v ~ N(0, I)`` and ``c_k`` the
nearest code. The noise has the magnitude of the true quantization error, so the decoder sees
what quantization does, while gradients reach both the encoder (through ``z``) and the codebook
(through ``||z - c_k||``), without a straight-through estimator or commitment loss.
Evaluation returns ``c_k`` itself. Unused codes are re-seeded from recent encoder outputs.
"""
from __future__ import annotations

import torch
from torch import nn


class NSVQ(nn.Module):
    def __init__(self, dim: int, codebook_size: int, dead_threshold: float = 0.01):
        super().__init__()
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim) * 0.1)
        self.dead_threshold = dead_threshold
        self.register_buffer("usage", torch.zeros(codebook_size))  # assignments since last check

    @property
    def codebook_size(self) -> int:
        return self.codebook.shape[0]

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.reshape(-1, z.shape[-1])
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        return d.argmin(1).reshape(z.shape[:-1])

    def forward(self, z: torch.Tensor):
        """``z``: (..., dim) -> ``(quantized, indices, loss)``; loss is 0 (NSVQ needs none)."""
        idx = self.nearest(z)
        hard = self.codebook[idx]
        if self.training:
            err = (z - hard).norm(dim=-1, keepdim=True)
            v = torch.randn_like(z)
            q = z + err * v / (v.norm(dim=-1, keepdim=True) + 1e-12)
            with torch.no_grad():
                self.usage += torch.bincount(idx.reshape(-1), minlength=self.codebook_size).float()
        else:
            q = hard
        return q, idx, z.new_zeros(())

    @torch.no_grad()
    def replace_dead_codes(self, z: torch.Tensor) -> int:
        """Re-seed codes whose share of recent assignments is below the threshold. Returns how many."""
        total = self.usage.sum()
        if total == 0:
            return 0
        dead = (self.usage / total) < self.dead_threshold
        n = int(dead.sum())
        if n:
            flat = z.detach().reshape(-1, z.shape[-1])
            pick = flat[torch.randint(len(flat), (n,), device=flat.device)]
            self.codebook.data[dead] = pick + 0.01 * torch.randn_like(pick) * pick.std()
        self.usage.zero_()
        return n

    @staticmethod
    def perplexity(indices: torch.Tensor, codebook_size: int) -> float:
        p = torch.bincount(indices.reshape(-1), minlength=codebook_size).float()
        p = p / p.sum().clamp(min=1)
        return float(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()))
