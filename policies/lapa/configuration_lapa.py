"""Configuration of the LAPA vision-language-action model (stages 2 and 3), and of Scratch.

The model is a vision encoder, a projector and a causal language model, all ``transformers``
classes except the two-layer MLP projector (as in LLaVA / OpenVLA):

    image --vision encoder (CLIP ViT by default; a conv stem in preset small)--> features --projector--> image tokens
    [image tokens] [prompt tokens] [K query tokens] --causal LM (Llama by default)--> hidden states
    hidden states at the K query positions --head--> K categorical predictions

Heads (parallel decoding, one forward pass per step, as in OpenVLA-OFT):

* ``latent`` (stage 2): K = ``chunk`` x ``code_seq_len`` queries (the LAQ codes of steps t..t+chunk-1,
  the same chunking as the action head), each a softmax over ``codebook_size`` codes.
* ``action`` (stage 3): K = ``chunk`` x 7 queries (an action chunk, decoded in parallel as in
  OpenVLA-OFT), each either a softmax over ``action_bins`` bins of one action dimension
  (``action_head="bins"``, OpenVLA's discretization, :mod:`lapa_bench.policies.lapa.action_bins`) or one
  continuous value (``action_head="l1"``: L1 on actions normalized by ``meta/stats.json``, the
  gripper a binary logit). The policy executes the first ``execute`` actions, then predicts again.

Small-data options (OpenVLA-OFT, DrQ), recorded in the checkpoint: ``proprio`` (the 7-D state as one
input token; the paper's model has none), ``random_shift`` (pixels of DrQ augmentation while
training), ``crop`` (a fixed workspace crop), ``query_readout`` (a linear readout of the whole image
feature map and the state added to every query token's embedding: a direct path from the image to
the head beside attention; a transformer trained from scratch routes the image to the queries many
times slower, results/learning/probe), and ``blind`` (the image-blind twin of the learning check: the
image is zeroed).

By default both towers are *built from the configs below with random weights* (nothing is
downloaded). ``vision_backbone`` / ``language_backbone`` name a local folder or hub id to load
pretrained weights (and the tokenizer, from the language backbone) when the user has them.
The vision encoder is frozen when it is pretrained (as in the paper) and trained when it is built
from scratch (``freeze_vision=None`` picks that; set True/False to force).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lapa_bench.errors import UserError
from lapa_bench.data.command import check_command_state, state_dim
from lapa_bench.policy import check_chunk_rollout

PROMPT = "In: What action should the robot take to {instruction}?\nOut:"  # OpenVLA's prompt


@dataclass
class LAPAConfig:
    image_size: int = 224
    # kwargs of transformers' CLIPVisionConfig / LlamaConfig (or any config with a model_type
    # key): used when no backbone is given, and written back with the resolved config on save
    vision: dict = field(default_factory=dict)
    text: dict = field(default_factory=dict)
    vision_backbone: str | None = None
    language_backbone: str | None = None
    freeze_vision: bool | None = None  # None: frozen iff pretrained
    image_mean: tuple = (0.48145466, 0.4578275, 0.40821073)  # CLIP's
    image_std: tuple = (0.26862954, 0.26130258, 0.27577711)
    prompt: str = PROMPT
    max_prompt_tokens: int = 96  # longer prompts are truncated
    head: str = "action"  # "latent" (stage 2) or "action" (stage 3)
    code_seq_len: int = 4  # latent head: tokens per step (from the LAQ)
    codebook_size: int = 8
    action_dim: int = 7
    action_bins: int = 256
    action_head: str = "bins"  # "bins" (discretized, cross-entropy) or "l1" (continuous, normalized)
    chunk: int = 1  # actions predicted per step (t .. t+chunk-1)
    execute: int = 1  # of which the policy executes the first `execute` before predicting again
    ensemble: float = 0.0  # ACT's temporal ensembling at rollout (0: off; lapa_bench.policy.ModelPolicy)
    proprio: bool = False  # the proprioceptive state as an input token
    # with proprio: the commanded state appended to the state (5-D, lapa_bench.data.command: the controller's
    # target minus the measured position, the last gripper command and its age), which one frame does not show
    command_state: bool = False
    random_shift: int = 0  # DrQ augmentation while training: +-pixels at the model's resolution
    blind: bool = False  # the image-blind twin of the learning check (the image is zeroed)
    # the size (H, W) the training data's frames were stored at: a rollout frame goes through it first,
    # so that training and rollout see the same pixels (lapa_bench.data.preprocess); set by training
    source_size: tuple | None = None
    crop: tuple | None = None  # fixed workspace crop (top, left, height, width), fractions of the frame
    # a direct path from the image to the head (0: off): the flattened vision features (and the
    # normalized state, with ``proprio``) -> ``query_readout`` units -> one vector per query token, added
    # to its embedding; attention then refines it. Without it the image reaches the queries only through
    # attention, which a transformer trained from scratch learns slowly (results/learning/probe)
    query_readout: int = 0
    # cheaper variants of the token sequence (the step cost grows with its length: results/benchmarks):
    # "per_output": one query token per parallel-decoded output (chunk x 7 actions, as OpenVLA-OFT);
    # "per_step": one query token per chunk step, whose head reads all of that step's outputs (7 action
    # dimensions or code_seq_len codes): chunk tokens instead of chunk x 7
    query_tokens: str = "per_output"
    pool_prompt: bool = False  # the prompt's token embeddings averaged into one token (a bag of bytes, order-blind)

    def __post_init__(self):
        if self.head not in ("latent", "action"):
            raise UserError(f"head must be 'latent' or 'action', got {self.head!r}")
        if self.action_bins < 2 or self.codebook_size < 2:
            raise UserError("action_bins and codebook_size must be >= 2")
        if self.action_head not in ("bins", "l1"):
            raise UserError(f"action_head must be 'bins' or 'l1', got {self.action_head!r}")
        if self.query_tokens not in ("per_output", "per_step"):
            raise UserError(f"query_tokens must be 'per_output' or 'per_step', got {self.query_tokens!r}")
        if self.query_readout < 0:
            raise UserError(f"query_readout must be >= 0 (0: off), got {self.query_readout}")
        check_chunk_rollout(self.chunk, self.execute, self.ensemble)
        check_command_state(self.proprio, self.command_state)
        self.image_mean, self.image_std = tuple(self.image_mean), tuple(self.image_std)
        self.source_size = tuple(self.source_size) if self.source_size else None
        self.crop = tuple(self.crop) if self.crop else None

    def preprocess(self):
        from lapa_bench.data.preprocess import ImagePreprocess

        return ImagePreprocess(self.image_size, self.source_size, self.crop)

    @property
    def state_dim(self) -> int:
        """Width of the proprioceptive input: the 7-D state, + 5 with ``command_state``."""
        return state_dim(self.command_state)

    @property
    def num_queries(self) -> int:
        """Parallel-decoded outputs: the LAQ codes of ``chunk`` steps (latent head), or ``chunk`` actions."""
        return self.chunk * (self.code_seq_len if self.head == "latent" else self.action_dim)

    @property
    def outputs_per_query(self) -> int:
        """Outputs each query token's hidden state is read into (``query_tokens``)."""
        if self.query_tokens == "per_output":
            return 1
        return self.code_seq_len if self.head == "latent" else self.action_dim

    @property
    def num_query_tokens(self) -> int:
        return self.num_queries // self.outputs_per_query

    @property
    def num_classes(self) -> int:
        if self.head == "latent":
            return self.codebook_size
        return self.action_bins if self.action_head == "bins" else 1

    @property
    def normalized(self) -> bool:
        """Whether the model holds action/state statistics (``meta/stats.json``)."""
        return self.proprio or (self.head == "action" and self.action_head == "l1")

    def to_dict(self) -> dict:
        return asdict(self)


def _clip(image, patch, width, depth, heads):
    return dict(model_type="clip_vision_model", image_size=image, patch_size=patch, hidden_size=width,
                intermediate_size=4 * width, num_hidden_layers=depth, num_attention_heads=heads)


def _llama(width, depth, heads, inter, vocab=259, max_pos=512):
    return dict(model_type="llama", vocab_size=vocab, hidden_size=width, intermediate_size=inter,
                num_hidden_layers=depth, num_attention_heads=heads, num_key_value_heads=heads,
                max_position_embeddings=max_pos, tie_word_embeddings=False)


def lapa_full() -> LAPAConfig:
    """Paper scale: a 7B Llama-2-shaped language model and a ViT-L/14 vision encoder at 224 px.

    (The paper's backbone is LWM-Chat-1M, Llama-2-7B with a VQGAN image tokenizer; we use a ViT
    encoder + projector as OpenVLA does. Give ``vision_backbone``/``language_backbone`` to load
    real weights; built from config it is randomly initialised.)
    """
    return LAPAConfig(image_size=224, vision=_clip(224, 14, 1024, 24, 16),
                      text=_llama(4096, 32, 32, 11008, vocab=32000, max_pos=2048), action_bins=256)


def lapa_tiny() -> LAPAConfig:
    """Trains on a laptop CPU in minutes: 64 px images, 2-layer ViT, 4-layer width-128 LM."""
    return LAPAConfig(image_size=64, vision=_clip(64, 8, 96, 2, 4), text=_llama(128, 4, 4, 384),
                      prompt="{instruction}", max_prompt_tokens=64, action_bins=64)


def _conv(image, width=32, depth=4):
    return dict(model_type="conv", image_size=image, width=width, depth=depth)


def lapa_small() -> LAPAConfig:
    """The small-data recipe at 128 px: a convolutional stem (4 stride-2 convs of width 16, `bc`'s CNN ->
    8 x 8 image tokens; ``depth: 5`` gives 4 x 4, 30 % cheaper a step with a lower held-out error but
    worse closed loop in the one run measured, results/learning), a 4-layer width-128 LM, proprio
    token, a query readout (the image and state reach every query token directly), chunks of 4
    continuous actions (L1, binary gripper), the first executed before predicting again (``execute``, a
    rollout setting, ``--policy.execute K`` at evaluation: executing all 4 more than doubled one
    100-demos/task checkpoint's training-layout successes and zeroed a weaker 25-demos/task one's,
    results/learning), +-8 px random shifts. (``vision: {model_type: clip_vision_model, ...}`` puts a ViT in the stem's place.)"""
    return LAPAConfig(image_size=128, vision=_conv(128, width=16), text=_llama(128, 4, 4, 384),
                      prompt="{instruction}", max_prompt_tokens=48, action_bins=64, action_head="l1", chunk=4,
                      execute=1, proprio=True, random_shift=8, query_readout=256)


PRESETS = {"full": lapa_full, "tiny": lapa_tiny, "small": lapa_small}
LAPAConfig.PRESETS = PRESETS  # `model: {preset: full}` in a config (lapa_bench.config)
