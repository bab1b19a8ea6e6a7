"""UniPi's video prediction model, readable top to bottom.

A conditional diffusion model over the next ``plan_frames`` frames at low resolution:

    noisy residuals r_j = (x_{t+j} - x_t) * scale, j = 1..k  (3k channels)
    + the current frame x_t (3 channels) --UNet (FiLM-conditioned on the diffusion timestep and
    the instruction's byte embedding)--> the clean residuals (x0-prediction)

Trained as a DDPM (linear betas, ``train_timesteps``) with the x0-prediction loss (stabler than
noise prediction for a small model sampled in few steps); sampled with deterministic DDIM in
``sample_steps`` steps, so a CPU rollout stays affordable. Predicting the change from x_t (not
raw pixels) lets a small model spend its capacity on the motion.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lapa_bench.data.text import ByteTextEmbedding
from lapa_bench.training import checkpoint
from lapa_bench.policies.unipi.configuration_unipi import UniPiConfig


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], -1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * cout)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cond):
        h = self.c1(F.silu(self.n1(x)))
        s, b = self.film(cond)[:, :, None, None].chunk(2, 1)
        h = self.c2(F.silu(self.n2(h) * (1 + s) + b))
        return h + self.skip(x)


class VideoUNet(nn.Module):
    def __init__(self, c: UniPiConfig):
        super().__init__()
        self.config = c
        w, cd = c.width, c.width * 4
        self.text = ByteTextEmbedding(c.text_dim)  # the instruction's bytes
        self.cond = nn.Sequential(nn.Linear(c.width + c.text_dim, cd), nn.SiLU(), nn.Linear(cd, cd))
        k3 = 3 * c.plan_frames
        self.inp = nn.Conv2d(k3 + 3, w, 3, padding=1)
        self.d1, self.d2 = ResBlock(w, w, cd), ResBlock(w, 2 * w, cd)
        self.mid = ResBlock(2 * w, 2 * w, cd)
        self.u2, self.u1 = ResBlock(4 * w, w, cd), ResBlock(2 * w, w, cd)
        self.out = nn.Sequential(nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, k3, 3, padding=1))
        # diffusion schedule (linear betas) and the residual scale (set from the data)
        betas = torch.linspace(1e-4, 0.02, c.train_timesteps)
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - betas, 0))
        self.register_buffer("residual_scale", torch.ones(()))

    def encode_text(self, instructions: list[str]) -> torch.Tensor:
        return self.text.encode(instructions, self.config.max_prompt_bytes)

    def forward(self, noisy, x_t, t, text_emb):
        cond = self.cond(torch.cat([timestep_embedding(t, self.config.width), text_emb], -1))
        h0 = self.inp(torch.cat([noisy, x_t * 2 - 1], 1))
        h1 = self.d1(h0, cond)
        h2 = self.d2(F.avg_pool2d(h1, 2), cond)
        m = self.mid(F.avg_pool2d(h2, 2), cond)
        u2 = self.u2(torch.cat([F.interpolate(m, scale_factor=2.0), h2], 1), cond)
        u1 = self.u1(torch.cat([F.interpolate(u2, scale_factor=2.0), h1], 1), cond)
        return self.out(u1)

    # -- diffusion -----------------------------------------------------------------------
    def residuals(self, x_t, future):
        """future ``(B, k, 3, S, S)`` -> scaled residuals ``(B, 3k, S, S)``."""
        return ((future - x_t[:, None]) * self.residual_scale).flatten(1, 2)

    def loss(self, batch: dict):
        """Training contract: ``batch`` has ``x_t`` (B, 3, S, S), ``future`` (B, k, 3, S, S), ``instruction``."""
        return self.diffusion_loss(batch["x_t"], batch["future"], batch["instruction"]), {}

    def diffusion_loss(self, x_t, future, instructions, t=None, noise=None) -> torch.Tensor:
        """x0-prediction loss on noised residuals (random ``t`` and ``noise`` unless given)."""
        r0 = self.residuals(x_t, future)
        t = torch.randint(0, self.config.train_timesteps, (len(r0),), device=r0.device) if t is None else t
        noise = torch.randn_like(r0) if noise is None else noise
        a = self.alphas_cumprod[t][:, None, None, None]
        noisy = a.sqrt() * r0 + (1 - a).sqrt() * noise
        return F.mse_loss(self(noisy, x_t, t, self.encode_text(instructions)), r0)

    @torch.no_grad()
    def sample(self, x_t, instructions, steps: int | None = None, generator=None) -> torch.Tensor:
        """Deterministic DDIM: frames ``(B, k, 3, S, S)`` in [0, 1] following x_t. ``generator``: one
        ``torch.Generator`` for the batch, or a list of B (each row's noise from its own, as if alone)."""
        c = self.config
        steps = steps or c.sample_steps
        b, s = x_t.shape[0], c.image_size
        text = self.encode_text(instructions)
        shape = (3 * c.plan_frames, s, s)
        if isinstance(generator, (list, tuple)):
            r = torch.cat([torch.randn(1, *shape, generator=g, device="cpu") for g in generator]).to(x_t.device)
        else:
            r = torch.randn(b, *shape, generator=generator, device="cpu").to(x_t.device)
        ts = torch.linspace(c.train_timesteps - 1, 0, steps).round().long().tolist()
        for i, t in enumerate(ts):
            a = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=x_t.device)
            r0 = self(r, x_t, torch.full((b,), t, device=x_t.device), text)
            r0 = r0.clamp(-self.residual_scale, self.residual_scale)  # a change of at most 1 in pixel units
            eps = (r - a.sqrt() * r0) / (1 - a).sqrt()
            r = a_prev.sqrt() * r0 + (1 - a_prev).sqrt() * eps
        frames = x_t[:, None] + r.view(b, c.plan_frames, 3, s, s) / self.residual_scale
        return frames.clamp(0, 1)

    # -- checkpoints -----------------------------------------------------------------------
    def save_pretrained(self, directory, policy_name: str = "unipi") -> Path:
        return checkpoint.save_module(self, directory, {"policy": policy_name}, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu", config: UniPiConfig | None = None) -> "VideoUNet":
        return checkpoint.load_module(cls, UniPiConfig, directory,
                                      "a UniPi checkpoint (train one with `lapa-bench unipi train`)", map_location,
                                      config)
