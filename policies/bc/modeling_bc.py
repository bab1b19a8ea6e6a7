"""The reference behaviour-cloning model, readable top to bottom.

    image (S x S) --4 x [conv 3x3 stride 2, GroupNorm, SiLU]--> S/16 x S/16 features --flatten, linear-->
    [image features | instruction bytes embedding | normalized proprio state] --MLP--> chunk x 7

Dimensions 0-5 (end-effector deltas) are regressed with an L1 loss in units normalized by the
training data's ``meta/stats.json`` (:mod:`lapa_bench.data.normalize`); the gripper (dimension 6,
-1 close / +1 open) is a binary output with a logistic loss. DrQ random shifts while training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lapa_bench.errors import UserError
from lapa_bench.data.convnet import conv_stack
from lapa_bench.data.text import ByteTextEmbedding
from lapa_bench.specs import ACTION_DIM
from lapa_bench.training import checkpoint, continuous_actions
from lapa_bench.policies.bc.configuration_bc import BCConfig


class BCModel(nn.Module):
    def __init__(self, config: BCConfig):
        super().__init__()
        c = self.config = config
        self.convs, ch = conv_stack(c.width, c.depth)
        cells = (c.image_size // 2 ** c.depth) ** 2
        self.image_proj = nn.Sequential(nn.Flatten(), nn.Linear(ch * cells, c.hidden), nn.SiLU())
        self.text = ByteTextEmbedding(c.text_dim)  # the instruction's bytes
        self.state_proj = nn.Linear(c.state_dim, 64) if c.proprio else None
        d = c.hidden + c.text_dim + (64 if c.proprio else 0)
        self.mlp = nn.Sequential(nn.Linear(d, c.hidden), nn.SiLU(), nn.Linear(c.hidden, c.hidden), nn.SiLU(),
                                 nn.Linear(c.hidden, c.chunk * ACTION_DIM))
        continuous_actions.add_normalizer_buffers(self, ACTION_DIM, c.state_dim)

    def set_normalizer(self, normalizer) -> None:
        """Action and state mean/std from the one normalizer (:mod:`lapa_bench.training.continuous_actions`)."""
        if "action" not in normalizer.stats:
            raise UserError("bc needs action statistics to normalize its targets; the dataset's meta/stats.json "
                             "has none (datasets written by `lapa-bench collect` have them)")
        continuous_actions.set_normalizer(self, normalizer, self.config.command_state, state=self.config.proprio)

    def encode_text(self, instructions: list[str]) -> torch.Tensor:
        return self.text.encode(instructions, self.config.max_prompt_bytes)

    def forward(self, pixels: torch.Tensor, instructions: list[str], state: torch.Tensor | None) -> torch.Tensor:
        """pixels ``(B, 3, S, S)`` in [0, 1], raw states ``(B, state_dim)`` -> ``(B, chunk, 7)``: normalized deltas
        (dims 0-5) and the gripper's logit (dim 6)."""
        if self.config.blind:
            pixels = torch.zeros_like(pixels)
        feats = [self.image_proj(self.convs(pixels * 2 - 1)), self.encode_text(instructions)]
        if self.state_proj is not None:
            feats.append(self.state_proj((state - self.state_mean) / self.state_std))
        return self.mlp(torch.cat(feats, -1)).view(len(pixels), self.config.chunk, ACTION_DIM)

    def loss(self, batch: dict):
        """Training contract: ``image``, ``instruction``, ``state``, ``target`` (B, chunk, 7) raw actions."""
        from lapa_bench.data.preprocess import random_shift

        x = batch["image"]
        if self.training and self.config.random_shift:
            x = random_shift(x, self.config.random_shift)
        out = self(x, batch["instruction"], batch.get("state"))
        return continuous_actions.l1_gripper_loss(out, batch["target"], self.action_mean, self.action_std)

    @torch.no_grad()
    def predict_batch(self, pixels, instructions, state) -> torch.Tensor:
        """-> actions ``(B, chunk, 7)`` in env units (gripper -1 / +1)."""
        return continuous_actions.decode(self(pixels, instructions, state), self.action_mean, self.action_std)

    @torch.no_grad()
    def predict(self, images: np.ndarray, instructions: list[str], states: np.ndarray) -> np.ndarray:
        """uint8 images ``(B, H, W, 3)`` (any size: the one preprocessing path), states ``(B, state_dim)``."""
        dev = self.action_mean.device
        x = self.config.preprocess()(np.asarray(images)).to(dev)
        s = torch.as_tensor(np.asarray(states), dtype=torch.float32, device=dev)
        return self.predict_batch(x, instructions, s).cpu().numpy()

    def save_pretrained(self, directory, policy_name: str = "bc") -> Path:
        return checkpoint.save_module(self, directory, {"policy": policy_name}, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu", config: BCConfig | None = None) -> "BCModel":
        return checkpoint.load_module(cls, BCConfig, directory,
                                      "a bc checkpoint (train one with `lapa-bench bc train`)", map_location, config)
