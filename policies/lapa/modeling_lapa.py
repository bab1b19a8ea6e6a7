"""The LAPA vision-language-action model, readable top to bottom (see ``configuration_lapa``).

``LAPAModel(config)(pixels, input_ids, attention_mask)`` returns logits ``(B, K, classes)`` for the
K queries of its head: latent codes (stage 2) or action bins (stage 3). ``replace_head("action")``
turns a latent-pretrained model into one for action finetuning (the towers and projector are kept,
the queries and the output layer are new). ``save_pretrained`` writes ``config.json``,
``model.safetensors`` and the tokenizer into one folder; ``from_pretrained`` reads them back.
``loss(batch)`` is the training contract of :func:`lapa_bench.training.train_model`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from transformers.modeling_outputs import BaseModelOutput

import numpy as np
import torch
from torch import nn

from lapa_bench.errors import UserError
from lapa_bench.training import checkpoint, continuous_actions
from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig


# -- tokenizer -----------------------------------------------------------------------------
def _bytes_to_unicode() -> dict[int, str]:
    """Printable stand-ins for the 256 byte values (the byte-level BPE convention)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, n = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, map(chr, chars)))


def byte_tokenizer():
    """An offline byte-level tokenizer (256 byte tokens + <pad> <s> </s>): any text, no download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(_bytes_to_unicode().values()))}
    for tok in ("<pad>", "<s>", "</s>"):
        vocab[tok] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>", eos_token="</s>")


# -- towers ----------------------------------------------------------------------------------
@dataclass
class ConvStemConfig:
    """``vision: {model_type: conv, ...}``: a convolutional stem instead of a ViT (small images, no pretraining)."""

    image_size: int = 128
    width: int = 32  # channels of the first conv, doubled per block up to 4x
    depth: int = 4  # stride-2 blocks: 128 px -> 8 x 8 = 64 image tokens
    # one more token: a linear readout of the whole feature map (position-specific, as `bc` reads it)
    readout: bool = False
    # where each token is: "learned" (an embedding initialised at std 0.02, small beside the features) or
    # "sincos" (fixed 2-D sine-cosine of unit amplitude, as MAE's ViT: the value vectors carry the position)
    position: str = "learned"
    model_type: str = "conv"

    def __post_init__(self):
        if self.position not in ("learned", "sincos"):
            raise UserError(f"vision.position must be 'learned' or 'sincos', got {self.position!r}")

    @property
    def hidden_size(self) -> int:
        from lapa_bench.data.convnet import channels

        return channels(self.width, self.depth - 1)

    def to_dict(self) -> dict:
        return asdict(self)


class ConvStem(nn.Module):
    """The vision tower for small images trained from scratch (the convolutional stem of "Early
    convolutions help transformers see better", Xiao et al. 2021; a ViT's 16 px patches learn little
    from a few hundred demonstrations): ``depth`` x [conv 3x3 stride 2, GroupNorm, SiLU], then one
    token per cell of the (S / 2^depth)^2 grid plus a learned position embedding (and, with ``readout``,
    one token linear in the whole feature map, the way ``bc`` reads it). Same call as a
    ``transformers`` vision model: ``stem(pixel_values=x).last_hidden_state`` is ``(B, cells, C)``."""

    def __init__(self, config: ConvStemConfig):
        super().__init__()
        from lapa_bench.data.convnet import conv_stack

        self.config = config
        self.convs, ch = conv_stack(config.width, config.depth)  # the same CNN as `bc`'s
        side = config.image_size // 2 ** config.depth
        cells = side ** 2
        if config.position == "sincos":
            self.register_buffer("position", sincos_2d(side, ch)[None], persistent=False)
        else:
            self.position = nn.Parameter(torch.randn(1, cells, ch) * 0.02)
        self.readout = nn.Sequential(nn.Flatten(), nn.Linear(cells * ch, ch), nn.SiLU()) if config.readout else None

    def forward(self, pixel_values: torch.Tensor):
        f = self.convs(pixel_values)
        tokens = f.flatten(2).transpose(1, 2) + self.position
        if self.readout is not None:
            tokens = torch.cat([tokens, self.readout(f).unsqueeze(1)], 1)
        # transformers' own output type (not a SimpleNamespace): torch.compile traces through it without a graph break
        return BaseModelOutput(last_hidden_state=tokens)


def sincos_2d(side: int, dim: int) -> torch.Tensor:
    """``(side * side, dim)`` fixed position codes of a square grid, row-major: half the channels encode
    the row, half the column, each as sines and cosines of ``dim / 4`` frequencies (MAE's ViT)."""
    if dim % 4:
        raise UserError(f"sincos position codes need a width divisible by 4, got {dim}")
    freq = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    pos = torch.arange(side, dtype=torch.float32)[:, None] * freq[None]  # (side, dim/4)
    code = torch.cat([pos.sin(), pos.cos()], 1)  # (side, dim/2)
    rows = code[:, None, :].expand(side, side, -1)
    cols = code[None, :, :].expand(side, side, -1)
    return torch.cat([rows, cols], -1).reshape(side * side, dim)


def _config_from_dict(d: dict):
    from transformers import AutoConfig

    d = dict(d)
    if "model_type" not in d:
        raise UserError(f"a tower config needs a 'model_type' key (e.g. 'clip_vision_model', 'conv', 'llama'): {d}")
    if d["model_type"] == "conv":
        return ConvStemConfig(**d)
    return AutoConfig.for_model(d.pop("model_type"), **d)


def _build_tower(d: dict, causal_lm: bool = False):
    """A randomly initialised tower from its config dict (``model_type`` names the class)."""
    from transformers import AutoModel, AutoModelForCausalLM

    cfg = _config_from_dict(d)
    if isinstance(cfg, ConvStemConfig):
        return ConvStem(cfg)
    return AutoModelForCausalLM.from_config(cfg).get_decoder() if causal_lm else AutoModel.from_config(cfg)


def _config_to_dict(cfg) -> dict:
    d = cfg.to_diff_dict() if hasattr(cfg, "to_diff_dict") else cfg.to_dict()
    d["model_type"] = cfg.model_type
    for k in ("transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"):
        d.pop(k, None)
    return d


def load_vision_tower(path_or_id: str):
    """A pretrained vision encoder; a full CLIP/SigLIP model contributes its vision part."""
    from transformers import AutoModel

    m = AutoModel.from_pretrained(path_or_id)
    if hasattr(m, "vision_model") and not m.config.model_type.endswith("vision_model"):  # e.g. CLIPModel
        vis = AutoModel.from_config(m.config.vision_config)  # CLIPVisionModel & co.
        sd = m.vision_model.state_dict()
        inner = vis if set(sd) == set(vis.state_dict()) else vis.vision_model  # key layout differs by version
        inner.load_state_dict(sd)
        m = vis
    return m


def load_language_tower(path_or_id: str):
    """A pretrained causal LM's decoder (no LM head) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(path_or_id)
    tok = AutoTokenizer.from_pretrained(path_or_id)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return lm.get_decoder(), tok


class LAPAModel(nn.Module):
    def __init__(self, config: LAPAConfig, vision=None, language=None, tokenizer=None):
        super().__init__()
        self.config = config
        if vision is None:  # the image size flows one way: LAPAConfig.image_size -> the tower
            vision = _build_tower({**config.vision, "image_size": config.image_size})
        elif getattr(vision.config, "image_size", config.image_size) != config.image_size:
            raise UserError(f"the vision backbone takes {vision.config.image_size} px images but the model's "
                             f"image_size is {config.image_size}: set --model.image_size {vision.config.image_size}")
        language = language if language is not None else _build_tower(config.text, causal_lm=True)
        self.vision, self.language = vision, language
        self.tokenizer = tokenizer or byte_tokenizer()
        # record the resolved tower configs so the checkpoint rebuilds without the backbones
        config.vision, config.text = _config_to_dict(vision.config), _config_to_dict(language.config)
        vd, ld = vision.config.hidden_size, language.config.hidden_size
        self.projector = nn.Sequential(nn.Linear(vd, ld), nn.GELU(), nn.Linear(ld, ld))  # LLaVA-1.5's MLP
        self.register_buffer("pixel_mean", torch.tensor(config.image_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.image_std).view(1, 3, 1, 1), persistent=False)
        # action discretization (stage 3), filled by `set_action_bins` and saved with the weights
        self.register_buffer("action_edges", torch.zeros(config.action_dim, config.action_bins + 1))
        self.register_buffer("action_centers", torch.zeros(config.action_dim, config.action_bins))
        self.state_proj = nn.Linear(config.state_dim, ld) if config.proprio else None  # the proprio token
        self.readout = None  # the query readout's shared part (its per-query part belongs to the head)
        if config.query_readout:
            with torch.no_grad():  # how many feature vectors the tower gives for one image
                s = config.image_size
                n_feats = vision(pixel_values=torch.zeros(1, 3, s, s)).last_hidden_state[0].numel()
            n_in = n_feats + (config.state_dim if config.proprio else 0)
            self.readout = nn.Sequential(nn.Linear(n_in, config.query_readout), nn.SiLU())
        self._new_head()
        self.freeze_vision = (config.vision_backbone is not None) if config.freeze_vision is None \
            else bool(config.freeze_vision)
        self.vision.requires_grad_(not self.freeze_vision)

    def _new_head(self):
        ld = self.language.config.hidden_size
        c = self.config
        self.queries = nn.Parameter(torch.randn(c.num_query_tokens, ld) * 0.02)
        self.head = nn.Linear(ld, c.outputs_per_query * c.num_classes)
        # the query readout's per-query vectors: new with each head (K differs between latent and action heads)
        self.query_proj = nn.Linear(self.config.query_readout, c.num_query_tokens * ld) \
            if self.config.query_readout else None
        if self.config.normalized and not hasattr(self, "action_mean"):  # filled by `set_normalizer`
            continuous_actions.add_normalizer_buffers(self, self.config.action_dim, self.config.state_dim)

    def set_normalizer(self, normalizer) -> None:
        """Action and state mean/std from the one normalizer (:mod:`lapa_bench.training.continuous_actions`)."""
        continuous_actions.set_normalizer(self, normalizer, self.config.command_state)

    def replace_head(self, kind: str) -> "LAPAModel":
        """Swap the output head (``latent`` -> ``action`` for finetuning); towers and projector stay."""
        self.config.head = kind
        self.config.__post_init__()
        self._new_head()
        return self.to(self.projector[0].weight.device)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_vision:
            self.vision.eval()
        return self

    # -- inputs --------------------------------------------------------------------------
    def tokenize(self, instructions: list[str]) -> dict:
        """The prompt's token ids and mask, ``(B, max_prompt_tokens)``; each instruction is tokenized once and
        cached (a dataset has a handful of instructions; the tokenizer cost a few ms every step)."""
        cache = self.__dict__.setdefault("_prompt_cache", {})
        for s in set(instructions) - set(cache):
            enc = self.tokenizer([self.config.prompt.format(instruction=s)], padding="max_length", truncation=True,
                                 max_length=self.config.max_prompt_tokens, return_tensors="pt")
            cache[s] = (enc["input_ids"], enc["attention_mask"])
        rows = [cache[s] for s in instructions]
        return {"input_ids": torch.cat([r[0] for r in rows]), "attention_mask": torch.cat([r[1] for r in rows])}

    def preprocess_images(self, images: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, S, S)`` in [0, 1]: the one preprocessing path
        (:mod:`lapa_bench.data.preprocess`), the same as training's."""
        return self.config.preprocess()(np.asarray(images))

    # -- forward ---------------------------------------------------------------------------
    def forward(self, pixels: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                state: torch.Tensor | None = None) -> torch.Tensor:
        """pixels ``(B, 3, S, S)`` in [0, 1], raw states ``(B, state_dim)`` (with ``proprio``; None: a zero state,
        e.g. for action-free videos); returns ``(B, K, classes)``."""
        b = pixels.shape[0]
        if self.config.blind:
            pixels = torch.zeros_like(pixels)
        x = (pixels - self.pixel_mean) / self.pixel_std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_vision):
            feats = self.vision(pixel_values=x).last_hidden_state
        img = self.projector(feats)
        z = None
        if self.state_proj is not None:  # [image tokens][state token][prompt][queries]
            z = torch.zeros(b, self.config.state_dim, device=img.device) if state is None \
                else (state.to(img.device).float() - self.state_mean) / self.state_std
            img = torch.cat([img, self.state_proj(z).unsqueeze(1).to(img.dtype)], 1)
        txt = self.language.get_input_embeddings()(input_ids)
        if self.config.pool_prompt:  # one token: the mean of the prompt's token embeddings
            w = attention_mask.to(txt.dtype).unsqueeze(-1)
            txt = ((txt * w).sum(1) / w.sum(1).clamp_min(1)).unsqueeze(1)
            attention_mask = attention_mask[:, :1].clamp_min(1)
        q = self.queries.unsqueeze(0).expand(b, -1, -1).to(img.dtype)
        if self.readout is not None:  # the direct path: image (+ state) -> every query's embedding
            r = feats.flatten(1) if z is None else torch.cat([feats.flatten(1), z.to(feats.dtype)], 1)
            q = q + self.query_proj(self.readout(r)).view(b, q.shape[1], -1).to(img.dtype)
        embeds = torch.cat([img, txt.to(img.dtype), q], 1)
        ones = torch.ones(b, img.shape[1], dtype=attention_mask.dtype, device=attention_mask.device)
        qmask = torch.ones(b, q.shape[1], dtype=attention_mask.dtype, device=attention_mask.device)
        mask = torch.cat([ones, attention_mask, qmask], 1)
        h = self.language(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return self.head(h[:, -q.shape[1]:]).reshape(b, self.config.num_queries, -1)  # (B, K, classes)

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """Training contract: ``batch`` has ``image`` (B, 3, S, S), ``instruction`` (B strings), ``state``
        (B, state_dim) with ``proprio``, and ``target``: class indices (latent codes or action bins, (B, K) or
        (B, chunk, 7)) or raw actions (B, chunk, 7) for the ``l1`` head.
        -> cross-entropy and {"accuracy"}, or L1 (normalized deltas) + logistic (gripper) and their parts."""
        from lapa_bench.data.preprocess import random_shift

        x = batch["image"]
        if self.training and self.config.random_shift:
            x = random_shift(x, self.config.random_shift)
        tok = self.tokenize(batch["instruction"])
        out = self(x, tok["input_ids"].to(x.device), tok["attention_mask"].to(x.device), batch.get("state"))
        if self.config.head == "action" and self.config.action_head == "l1":
            out = out[..., 0].view(len(x), self.config.chunk, self.config.action_dim)
            return continuous_actions.l1_gripper_loss(out, batch["target"].view(out.shape), self.action_mean,
                                                      self.action_std)
        target = batch["target"].long().reshape(len(x), -1)
        ce = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]).float(), target.reshape(-1))
        return ce, {"accuracy": (out.argmax(-1) == target).float().mean()}

    # -- actions ---------------------------------------------------------------------------
    def set_action_bins(self, edges: np.ndarray, centers: np.ndarray) -> None:
        self.action_edges.copy_(torch.as_tensor(edges))
        self.action_centers.copy_(torch.as_tensor(centers))

    def encode_actions(self, actions: np.ndarray) -> np.ndarray:
        from lapa_bench.policies.lapa.action_bins import encode

        return encode(actions, self.action_edges.cpu().numpy())

    @torch.no_grad()
    def predict_batch(self, pixels: torch.Tensor, instructions: list[str], state=None) -> torch.Tensor:
        """Preprocessed pixels -> actions ``(B, chunk, 7)`` in env units (action head) or codes ``(B, K)``."""
        c = self.config
        dev = pixels.device
        tok = self.tokenize(instructions)
        out = self(pixels, tok["input_ids"].to(dev), tok["attention_mask"].to(dev), state)
        if c.head == "latent":
            return out.argmax(-1)
        if c.action_head == "l1":
            out = out[..., 0].view(len(pixels), c.chunk, c.action_dim)
            return continuous_actions.decode(out, self.action_mean, self.action_std)
        idx = out.argmax(-1).view(len(pixels), c.chunk, c.action_dim)
        return torch.stack([self.action_centers[d][idx[..., d]] for d in range(c.action_dim)], -1)

    @torch.no_grad()
    def predict(self, images: np.ndarray, instructions: list[str], states=None) -> np.ndarray:
        """uint8 images ``(B, H, W, 3)`` (any size: the one preprocessing path) + instructions (+ states
        ``(B, state_dim)`` with ``proprio``) -> actions ``(B, chunk, 7)`` (action head) or codes ``(B, K)``."""
        dev = self.projector[0].weight.device
        st = None if states is None else torch.as_tensor(np.asarray(states), dtype=torch.float32, device=dev)
        return self.predict_batch(self.preprocess_images(images).to(dev), instructions, st).cpu().numpy()

    # -- checkpoints -----------------------------------------------------------------------
    def save_pretrained(self, directory, policy_name: str | None = None) -> Path:
        """``config.json`` (``{"policy", "config"}``), ``model.safetensors`` and the tokenizer."""
        policy_name = policy_name or getattr(self, "policy_name", "lapa")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(d)
        return checkpoint.save_module(self, d, {"policy": policy_name}, asdict(self.config))

    @classmethod
    def build(cls, config: LAPAConfig) -> "LAPAModel":
        """A new model: towers from the backbones when given, else from the config dicts."""
        vision = load_vision_tower(config.vision_backbone) if config.vision_backbone else None
        language, tok = load_language_tower(config.language_backbone) if config.language_backbone else (None, None)
        return cls(config, vision, language, tok)

    @classmethod
    def from_pretrained(cls, directory, map_location: str = "cpu", strict: bool = True,
                        config: LAPAConfig | None = None) -> "LAPAModel":
        """Rebuild from a checkpoint folder (the backbones are *not* re-read: the weights are here); ``config``: the
        folder's config as the caller read it (a policy's, with its rollout settings), else read here."""
        from transformers import AutoTokenizer

        from lapa_bench.config import from_dict

        d = Path(directory)
        what = ("a LAPA checkpoint; train one with `lapa-bench lapa train`, `lapa-bench lapa pretrain` or `lapa-bench "
                "scratch train`")
        if config is None:
            payload = checkpoint.read_payload(d, what)
            config = from_dict(LAPAConfig, dict(payload.get("config", payload)), where=f"{d}/config.json")
            policy_name = payload.get("policy", "lapa")
        else:
            checkpoint.checkpoint_folder(d, what)
            policy_name = None
        model = cls(config, tokenizer=AutoTokenizer.from_pretrained(d))
        if policy_name:
            model.policy_name = policy_name
        return checkpoint.load_weights(model, d, map_location, strict)
