"""Configurations of the latent action quantization model (LAQ)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from lapa_bench.errors import UserError


@dataclass
class LAQConfig:
    image_size: int = 256
    patch_size: int = 32
    channels: int = 3
    dim: int = 1024
    spatial_depth: int = 8
    temporal_depth: int = 8
    decoder_depth: int = 8
    heads: int = 16
    dim_head: int = 64
    mlp_ratio: float = 4.0
    codebook_size: int = 8
    code_seq_len: int = 4  # latent action tokens per step (a square number: a k x k grid)
    code_dim: int = 32
    # transformer blocks over the difference tokens (with their positions) before they are pooled to the code
    # grid: where a patch changed, and how, becomes a direction (an arm moving left turns patches on its left into
    # arm and on its right into table; average pooling alone sums those to ~0). 0: pool the difference directly
    action_depth: int = 0
    frame_gap: int = 1  # H: x_t -> x_{t+H}
    # the decoder predicts x_{t+H} - x_t (its output layer starts near zero, i.e. at "copy x_t"), so
    # training spends its capacity on what moved; False predicts the pixels directly
    residual_decoder: bool = True
    # dead-code replacement: every `replace_every` steps, codes used by fewer than
    # `dead_threshold` of the batch's assignments are re-seeded from encoder outputs
    replace_every: int = 50
    dead_threshold: float = 0.01
    replace_until: int = 10_000  # stop replacing after this many steps (codes settle)

    def __post_init__(self):
        if self.image_size % self.patch_size:
            raise UserError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        k = int(round(self.code_seq_len ** 0.5))
        if k * k != self.code_seq_len:
            raise UserError(f"code_seq_len must be a square number (k x k grid), got {self.code_seq_len}")
        if (self.image_size // self.patch_size) % k:
            raise UserError("the patch grid must divide into the code grid")

    def to_dict(self) -> dict:
        return asdict(self)


def laq_full() -> LAQConfig:
    """As in the paper's code: image 256, patch 32, width 1024, depth 8/8, 16 heads, 8 codes x 4 tokens."""
    return LAQConfig()


def laq_tiny() -> LAQConfig:
    """Trains on a laptop CPU in minutes (64x64 frames, width 128)."""
    return LAQConfig(image_size=64, patch_size=8, dim=128, spatial_depth=2, temporal_depth=2, decoder_depth=2,
                     heads=4, dim_head=32, code_dim=16, replace_every=25, replace_until=2_000)


PRESETS = {"full": laq_full, "tiny": laq_tiny}
LAQConfig.PRESETS = PRESETS  # `model: {preset: full}` in a config (lapa_bench.config)
