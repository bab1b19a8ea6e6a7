"""Configuration of the reference behaviour-cloning policy ``bc`` (a small CNN + proprio + chunks)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from lapa_bench.data.command import check_command_state, state_dim
from lapa_bench.policy import check_chunk_rollout


@dataclass
class BCConfig:
    image_size: int = 128  # model input (square); objects must be more than a few pixels
    width: int = 16  # channels of the first conv, doubled per block up to 4x (16: 2.6x faster than 32 on a CPU, and it manipulates: results/learning)
    depth: int = 4  # stride-2 conv blocks (128 px -> 8 x 8 features)
    hidden: int = 512
    text_dim: int = 32  # byte embedding of the instruction (any instruction, no vocabulary)
    max_prompt_bytes: int = 64
    proprio: bool = True  # the 7-D end-effector state as an input
    # with proprio: the commanded state appended to the state (5-D, lapa_bench.data.command: the controller's
    # target minus the measured position, the last gripper command and its age), which one frame does not show
    command_state: bool = False
    chunk: int = 4  # actions predicted per step (t .. t+chunk-1)
    execute: int = 1  # of which the first `execute` are executed before predicting again
    ensemble: float = 0.0  # ACT's temporal ensembling at rollout (0: off; lapa_bench.policy.ModelPolicy)
    random_shift: int = 8  # DrQ augmentation while training: +-pixels at the model's resolution
    blind: bool = False  # the image-blind twin of the learning check: the image is zeroed
    source_size: tuple | None = None  # stored size of the training frames (set by training)
    crop: tuple | None = None  # fixed workspace crop (top, left, height, width), fractions

    def __post_init__(self):
        check_chunk_rollout(self.chunk, self.execute, self.ensemble)
        check_command_state(self.proprio, self.command_state)
        self.source_size = tuple(self.source_size) if self.source_size else None
        self.crop = tuple(self.crop) if self.crop else None

    @property
    def state_dim(self) -> int:
        """Width of the proprioceptive input: the 7-D state, + 5 with ``command_state``."""
        return state_dim(self.command_state)

    def preprocess(self):
        from lapa_bench.data.preprocess import ImagePreprocess

        return ImagePreprocess(self.image_size, self.source_size, self.crop)

    def to_dict(self) -> dict:
        return asdict(self)


def bc_tiny() -> BCConfig:
    return BCConfig()


PRESETS = {"tiny": bc_tiny}
BCConfig.PRESETS = PRESETS
