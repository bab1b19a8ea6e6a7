"""Configuration of UniPi's video prediction model (and its rollout: plan length, re-planning)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from lapa_bench.errors import UserError


@dataclass
class UniPiConfig:
    image_size: int = 32
    plan_frames: int = 4  # k frames generated per plan
    replan_every: int = 4  # execute this many actions of a plan, then plan again (<= plan_frames)
    width: int = 64
    text_dim: int = 64
    max_prompt_bytes: int = 64
    train_timesteps: int = 1000
    sample_steps: int = 10  # DDIM steps at test time
    source_size: tuple | None = None  # stored size of the training videos (rollout frames go through it)

    def __post_init__(self):
        if not 1 <= self.replan_every <= self.plan_frames:
            raise UserError(f"replan_every must be in [1, plan_frames={self.plan_frames}], got {self.replan_every}")
        if self.image_size % 4:
            raise UserError("image_size must be a multiple of 4 (two down-samplings)")
        self.source_size = tuple(self.source_size) if self.source_size else None

    def preprocess(self):
        from lapa_bench.data.preprocess import ImagePreprocess

        return ImagePreprocess(self.image_size, self.source_size)

    def to_dict(self) -> dict:
        return asdict(self)


def unipi_tiny() -> UniPiConfig:
    return UniPiConfig(image_size=32, plan_frames=4, width=64, sample_steps=10)


def unipi_full() -> UniPiConfig:
    """Larger frames and width (the paper's UniPi is a large video diffusion model; this keeps the design)."""
    return UniPiConfig(image_size=64, plan_frames=8, replan_every=8, width=192, text_dim=256, sample_steps=50)


PRESETS = {"tiny": unipi_tiny, "full": unipi_full}
UniPiConfig.PRESETS = PRESETS
