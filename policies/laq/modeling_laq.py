"""Latent action quantization (LAQ): a VQ-VAE over pairs of frames, readable top to bottom.

    x_t, x_{t+H} --patchify--> tokens --spatial transformer (per frame)--> --causal temporal
    transformer (per patch, over the 2 frames)--> e_1, e_2
    d = e_2 - e_1 (--action transformer over d's tokens, ``action_depth`` > 0)
      --pool to a k x k grid--> code_seq_len tokens --NSVQ--> latent action codes
    decoder: patches of x_t + the codes (broadcast to their grid cells) --spatial transformer-->
             pixels of x_{t+H} (as x_t + a predicted change, ``residual_decoder``)

The codes are the "latent actions". ``forward`` returns the reconstruction, the code indices and
the loss (MSE of the reconstruction of x_{t+H}); ``loss(batch)`` is the training contract of
:func:`lapa_bench.training.train_model` and ``on_step_end`` does the dead-code replacement.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lapa_bench.errors import UserError
from lapa_bench.training import checkpoint
from lapa_bench.policies.laq.configuration_laq import LAQConfig
from lapa_bench.policies.laq.nsvq import NSVQ


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads, inner = heads, heads * dim_head
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Linear(inner, dim)

    def forward(self, x, causal: bool = False):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class Block(nn.Module):
    def __init__(self, dim, heads, dim_head, mlp_ratio):
        super().__init__()
        self.n1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dim_head)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x, causal: bool = False):
        x = x + self.attn(self.n1(x), causal)
        return x + self.mlp(self.n2(x))


class Transformer(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, mlp_ratio):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, heads, dim_head, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, causal: bool = False):
        for blk in self.blocks:
            x = blk(x, causal)
        return self.norm(x)


class LAQ(nn.Module):
    def __init__(self, config: LAQConfig):
        super().__init__()
        c = self.config = config
        self.grid = c.image_size // c.patch_size  # patches per side
        self.code_grid = int(round(c.code_seq_len ** 0.5))
        patch_dim = c.channels * c.patch_size ** 2
        self.patch_embed = nn.Sequential(nn.LayerNorm(patch_dim), nn.Linear(patch_dim, c.dim), nn.LayerNorm(c.dim))
        self.pos = nn.Parameter(torch.randn(1, self.grid ** 2, c.dim) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(1, 2, c.dim) * 0.02)
        self.spatial = Transformer(c.dim, c.spatial_depth, c.heads, c.dim_head, c.mlp_ratio)
        self.temporal = Transformer(c.dim, c.temporal_depth, c.heads, c.dim_head, c.mlp_ratio)
        if c.action_depth:  # reads where and how patches changed before pooling (LAQConfig.action_depth)
            self.action_pos = nn.Parameter(torch.randn(1, self.grid ** 2, c.dim) * 0.02)
            self.action = Transformer(c.dim, c.action_depth, c.heads, c.dim_head, c.mlp_ratio)
        self.to_code = nn.Linear(c.dim, c.code_dim)
        self.vq = NSVQ(c.code_dim, c.codebook_size, c.dead_threshold)
        self.from_code = nn.Linear(c.code_dim, c.dim)
        self.dec_embed = nn.Sequential(nn.LayerNorm(patch_dim), nn.Linear(patch_dim, c.dim), nn.LayerNorm(c.dim))
        self.dec_pos = nn.Parameter(torch.randn(1, self.grid ** 2, c.dim) * 0.02)
        self.decoder = Transformer(c.dim, c.decoder_depth, c.heads, c.dim_head, c.mlp_ratio)
        self.to_pixels = nn.Linear(c.dim, patch_dim)
        if c.residual_decoder:  # start near "copy x_t" (tiny weights, so gradients still flow)
            nn.init.normal_(self.to_pixels.weight, std=1e-3)
            nn.init.zeros_(self.to_pixels.bias)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # -- pixels <-> patches ----------------------------------------------------------------
    def patchify(self, x):  # (B, C, H, W) -> (B, N, C*p*p)
        p = self.config.patch_size
        b, ch, h, w = x.shape
        x = x.reshape(b, ch, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b, (h // p) * (w // p), ch * p * p)

    def unpatchify(self, t):  # (B, N, C*p*p) -> (B, C, H, W)
        p, g, ch = self.config.patch_size, self.grid, self.config.channels
        b = t.shape[0]
        return t.reshape(b, g, g, ch, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, ch, g * p, g * p)

    def _check(self, x):
        s = self.config.image_size
        if x.ndim != 4 or x.shape[1:] != (self.config.channels, s, s):
            raise UserError(f"LAQ expects frames (B, {self.config.channels}, {s}, {s}), got {tuple(x.shape)}")

    # -- encoder ---------------------------------------------------------------------------
    def encode(self, x_t, x_th):
        """Continuous latent action (B, code_seq_len, code_dim) before quantization."""
        self._check(x_t)
        self._check(x_th)
        b = x_t.shape[0]
        frames = torch.stack([x_t, x_th], 1).flatten(0, 1)  # (2B, C, H, W)
        tok = self.spatial(self.patch_embed(self.patchify(frames)) + self.pos)  # (2B, N, D)
        n, d = tok.shape[1], tok.shape[2]
        tok = tok.reshape(b, 2, n, d).permute(0, 2, 1, 3).reshape(b * n, 2, d) + self.frame_pos
        tok = self.temporal(tok, causal=True).reshape(b, n, 2, d)
        diff = tok[:, :, 1] - tok[:, :, 0]  # (B, N, D): what changed
        if self.config.action_depth:
            diff = self.action(diff + self.action_pos)
        g, k = self.grid, self.code_grid
        diff = diff.transpose(1, 2).reshape(b, d, g, g)
        pooled = F.adaptive_avg_pool2d(diff, k).flatten(2).transpose(1, 2)  # (B, k*k, D)
        return self.to_code(pooled)

    def quantize(self, x_t, x_th):
        return self.vq(self.encode(x_t, x_th))

    # -- decoder ---------------------------------------------------------------------------
    def decode(self, x_t, codes_q):
        """Rebuild x_{t+H} (B, C, H, W) from x_t and quantized codes (B, code_seq_len, code_dim)."""
        b, g, k = x_t.shape[0], self.grid, self.code_grid
        cond = self.from_code(codes_q).transpose(1, 2).reshape(b, -1, k, k)
        cond = F.interpolate(cond, size=(g, g), mode="nearest").flatten(2).transpose(1, 2)  # (B, N, D)
        tok = self.dec_embed(self.patchify(x_t)) + self.dec_pos + cond
        out = self.unpatchify(self.to_pixels(self.decoder(tok)))
        return x_t + out if self.config.residual_decoder else out

    def decode_indices(self, x_t, indices):
        return self.decode(x_t, self.vq.codebook[indices])

    def forward(self, x_t, x_th):
        """-> dict(recon, indices, loss, recon_loss, vq_loss, z_e: encoder output before quantization)."""
        z_e = self.encode(x_t, x_th)
        q, idx, vq_loss = self.vq(z_e)
        recon = self.decode(x_t, q)
        recon_loss = F.mse_loss(recon, x_th)
        return {"recon": recon, "indices": idx, "loss": recon_loss + vq_loss, "recon_loss": recon_loss,
                "vq_loss": vq_loss, "z_e": z_e}

    def loss(self, batch: dict):
        """Training contract: ``batch`` has ``x_t`` and ``x_th``; -> (loss, metrics)."""
        out = self(batch["x_t"], batch["x_th"])
        self._z_e = out["z_e"].detach()
        k = self.config.codebook_size
        return out["loss"], {"recon_loss": out["recon_loss"], "perplexity": NSVQ.perplexity(out["indices"], k),
                             "codes_used": int(torch.unique(out["indices"]).numel())}

    def on_step_end(self) -> dict:
        return {"replaced": self.maybe_replace_codes(self._z_e)}

    @torch.no_grad()
    def label(self, x_t, x_th) -> torch.Tensor:
        """Latent action codes (B, code_seq_len) of frame pairs (eval mode, nearest codes)."""
        return self.vq.nearest(self.encode(x_t, x_th))

    def maybe_replace_codes(self, z_e) -> int:
        """Call once per training step with the batch's ``z_e``: dead-code replacement on schedule."""
        c = self.config
        self.step += 1
        s = int(self.step)
        if s % c.replace_every == 0 and s <= c.replace_until:
            return self.vq.replace_dead_codes(z_e)
        return 0

    # -- checkpoints -----------------------------------------------------------------------
    def save_pretrained(self, directory) -> Path:
        return checkpoint.save_module(self, directory, {"model": "laq"}, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu") -> "LAQ":
        return checkpoint.load_module(cls, LAQConfig, directory, "a LAQ checkpoint (train one with `lapa-bench laq "
                                      "train`)", map_location)
