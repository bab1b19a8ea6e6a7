"""The convolutional image encoder shared by the small policies (``bc``'s CNN, the VLA's conv stem)."""
from __future__ import annotations

from torch import nn


def channels(width: int, block: int) -> int:
    """Output channels of block ``block`` (0-based): ``width`` doubled per block up to 4x."""
    return width * 2 ** min(block, 2)


def conv_stack(width: int, depth: int, in_channels: int = 3) -> tuple[nn.Sequential, int]:
    """``depth`` x [conv 3x3 stride 2, GroupNorm(8), SiLU], :func:`channels` per block: an S x S image ->
    (S / 2^depth)^2 cells. Returns the stack and its output channels."""
    layers, ch = [], in_channels
    for i in range(depth):
        out = channels(width, i)
        layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.GroupNorm(8, out), nn.SiLU()]
        ch = out
    return nn.Sequential(*layers), ch
