"""Instructions as bytes: an embedding that needs no tokenizer and no vocabulary (any text, offline)."""
from __future__ import annotations

import torch
from torch import nn

PAD = 256


def byte_ids(instructions: list[str], max_bytes: int) -> torch.Tensor:
    """``(B, max_bytes)`` UTF-8 byte ids, padded with 256 (cut at ``max_bytes``)."""
    ids = torch.full((len(instructions), max_bytes), PAD, dtype=torch.long)
    for i, s in enumerate(instructions):
        b = list(s.encode("utf-8"))[:max_bytes]
        ids[i, :len(b)] = torch.tensor(b, dtype=torch.long)
    return ids


class ByteTextEmbedding(nn.Embedding):
    """The mean of an instruction's byte embeddings (256 bytes + pad): ``encode(instructions) -> (B, dim)``."""

    def __init__(self, dim: int):
        super().__init__(PAD + 1, dim)

    def encode(self, instructions: list[str], max_bytes: int) -> torch.Tensor:
        ids = byte_ids(instructions, max_bytes).to(self.weight.device)
        mask = (ids != PAD).float()[..., None]
        return (self(ids) * mask).sum(1) / mask.sum(1).clamp_min(1)
