"""Configuration of the inverse dynamics model (IDM) of the VPT and UniPi baselines."""
from __future__ import annotations

from dataclasses import asdict, dataclass


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
IDMConfig.PRESETS = PRESETS
