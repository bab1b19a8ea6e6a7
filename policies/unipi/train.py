"""UniPi as a training method: the video diffusion model on the action-free videos, the IDM on the
labelled trajectories (at the video model's resolution).

    lapa-bench unipi train --videos data/bridge_videos --data data/bridge_demos --out ckpt/unipi
    lapa-bench unipi eval --checkpoint ckpt/unipi --videos data/bridge_videos   # one-step prediction vs copy

The policy checkpoint is OUT (``config.json`` + ``model.safetensors``) with the IDM in ``OUT/idm``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lapa_bench.training import Inputs, TrainConfig, checkpoint, register_command, register_method, train_model
from lapa_bench.policies.idm.train import IDMTrainConfig
from lapa_bench.data import open_sources
from lapa_bench.policies.unipi.configuration_unipi import UniPiConfig, unipi_tiny


@dataclass
class UniPiTrainConfig:
    model: UniPiConfig = field(default_factory=unipi_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, schedule="constant", warmup_steps=0, grad_clip=1.0, log_every=50, save_every=500))
    # the IDM works at the video model's resolution (model.image_size is copied into it)
    idm: IDMTrainConfig = field(default_factory=IDMTrainConfig)
    max_episodes: int | None = None


class Clips:
    """(x_t, x_{t+1..t+k}, instruction) from episodes of action-free sources."""

    def __init__(self, sources, episodes, preprocess, k: int):
        from lapa_bench.data.torch_datasets import _EpisodeSource

        self.src = _EpisodeSource(sources, cache_episodes=10_000, preprocess=preprocess)
        self.k = k
        self.index = [(e, t) for e in episodes for t in range(self.src.length(e) - k)]

    def __len__(self):
        return len(self.index)

    def collate(self, idx) -> dict:
        from lapa_bench.data.preprocess import to_tensor

        xs, fs, ins = [], [], []
        for j in idx:
            e, t = self.index[int(j)]
            f = self.src.frames(e)
            xs.append(f[t])
            fs.append(f[t + 1:t + 1 + self.k])
            ins.append(self.src.instruction(e))
        return {"x_t": to_tensor(np.stack(xs)), "future": to_tensor(np.stack(fs)), "instruction": ins}


def _clips(videos, c: UniPiConfig, max_episodes, val_fraction, seed):
    from lapa_bench.data import stored_image_size
    from lapa_bench.data.torch_datasets import split_episodes

    sources = open_sources(videos, max_episodes, actions=False)
    tr, va = split_episodes(sum(len(s) for s in sources), val_fraction, seed)
    c.source_size = stored_image_size(sources)  # the one rule (mixed sizes: an error naming the fix)
    prep = c.preprocess()
    return Clips(sources, tr, prep, c.plan_frames), Clips(sources, va, prep, c.plan_frames)


def evaluate(model, clips: Clips, device, max_samples: int = 256, seed: int = 0) -> dict:
    """Held-out one-step prediction (first generated frame vs the true x_{t+1}) against copying x_t."""
    import torch

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(clips), min(max_samples, len(clips)), replace=False)
    g = torch.Generator().manual_seed(seed)
    mse = copy = 0.0
    for b in range(0, len(idx), 64):
        batch = clips.collate(idx[b:b + 64])
        x, fut = batch["x_t"], batch["future"]
        pred = model.sample(x.to(device), batch["instruction"], generator=g).cpu()
        mse += float(((pred[:, 0] - fut[:, 0]) ** 2).mean()) * len(x)
        copy += float(((x - fut[:, 0]) ** 2).mean()) * len(x)
    n = len(idx)
    m = {"one_step_mse": mse / n, "copy_mse": copy / n, "improvement_vs_copy": 1 - mse / max(copy, 1e-12),
         "samples": int(n), "sample_steps": model.config.sample_steps}
    print(f"[unipi] held-out one-step prediction MSE {m['one_step_mse']:.5f} vs copy-x_t {m['copy_mse']:.5f} "
          f"({100 * m['improvement_vs_copy']:.1f}% lower; {m['samples']} samples, {m['sample_steps']} DDIM steps)")
    return m


@register_method("unipi", config=UniPiTrainConfig, policy="unipi", needs=("data", "videos"))
def train(cfg: UniPiTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """UniPi: a text-conditioned video diffusion planner + an IDM that turns its frames into actions."""
    from lapa_bench.policies.idm import train as idm
    from lapa_bench.policies.unipi.modeling_unipi import VideoUNet

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = cfg.model.image_size
    if not checkpoint.is_done(out / "idm"):
        idm_cfg = replace(cfg.idm, model=replace(cfg.idm.model, image_size=s, depth=min(cfg.idm.model.depth,
                                                                                            3 if s <= 32 else 4)))
        idm.train(idm_cfg, Inputs(data=inputs.data), out / "idm", device)
    model_cfg = replace(cfg.model)
    train_c, val_c = _clips(inputs.videos, model_cfg, cfg.max_episodes, cfg.train.val_fraction, cfg.train.seed)
    model = VideoUNet(model_cfg)
    if not checkpoint.resume_step(out):  # residual scale: unit std of x_{t+j} - x_t on a sample of training clips
        b = train_c.collate(np.random.default_rng(cfg.train.seed).choice(len(train_c), min(256, len(train_c)),
                                                                         replace=False))
        model.residual_scale.fill_(1.0 / float((b["future"] - b["x_t"][:, None]).std().clamp_min(1e-3)))
    print(f"[unipi] video model: {len(train_c)} train / {len(val_c)} validation clips of {model_cfg.plan_frames} "
          f"frames at {s} px")
    train_model(model, train_c, cfg.train, out, device=device, name="unipi video model",
                evaluate=lambda m, dev: evaluate(m, val_c, dev), state={"videos": inputs.videos, "data": inputs.data})
    return out


@dataclass
class EvalCommand:
    checkpoint: str  # UniPi checkpoint folder
    videos: list[str]  # action-free datasets (the held-out split of training is used)
    out: str | None = None  # write the result as JSON here
    val_fraction: float = 0.1
    seed: int = 0
    max_episodes: int | None = None


@register_command("unipi", "eval", EvalCommand,
                  help="held-out one-step frame prediction vs copying the current frame (MSE)")
def eval_command(cfg: EvalCommand, device: str = "auto") -> dict:
    from lapa_bench.device import resolve_device
    from lapa_bench.policies.unipi.modeling_unipi import VideoUNet

    dev = resolve_device(device)
    model = VideoUNet.from_pretrained(cfg.checkpoint).to(dev).eval()
    _, val_c = _clips(cfg.videos, replace(model.config), cfg.max_episodes, cfg.val_fraction, cfg.seed)
    m = evaluate(model, val_c, dev, seed=cfg.seed)
    if cfg.out:
        from lapa_bench.io import write_json_atomic

        write_json_atomic(cfg.out, m)
    return m
