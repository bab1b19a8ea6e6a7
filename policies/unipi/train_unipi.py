"""Train UniPi: the video diffusion model on the action-free videos, the IDM on labelled trajectories.

    lapa-bench unipi train --videos data/bridge_videos --data data/bridge_demos --out ckpt/unipi
    lapa-bench unipi eval ckpt/unipi --videos data/bridge_videos   # one-step prediction vs copying x_t

The policy checkpoint is OUT (``config.json`` + ``model.safetensors``) with the IDM in ``OUT/idm``.
Resumes from ``OUT/last``; log in ``OUT/log.csv``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class UniPiTrainConfig:
    videos: list[str]
    data: list[str]
    out: str
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # UniPiConfig fields
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-4
    idm_steps: int = 1500
    val_fraction: float = 0.1
    max_episodes: int | None = None
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    save_every: int = 500
    progress: bool = True


class Clips:
    """(x_t, x_{t+1..t+k}, instruction) from episodes of action-free sources."""

    def __init__(self, sources, episodes, size: int, k: int):
        from lapa_bench.data.torch_datasets import _EpisodeSource

        self.src = _EpisodeSource(sources, (size, size), cache_episodes=10_000)
        self.k = k
        self.index = [(e, t) for e in episodes for t in range(self.src.length(e) - k)]

    def __len__(self):
        return len(self.index)

    def batch(self, idx):
        import torch

        xs, fs, ins = [], [], []
        for j in idx:
            e, t = self.index[int(j)]
            f = self.src.frames(e)
            xs.append(f[t])
            fs.append(f[t + 1:t + 1 + self.k])
            ins.append(self.src.instruction(e))
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float().div(255)
        fut = torch.from_numpy(np.stack(fs)).permute(0, 1, 4, 2, 3).float().div(255)
        return x, fut, ins


def _clips(cfg: UniPiTrainConfig, c):
    from lapa_bench.data import open_datasets
    from lapa_bench.data.torch_datasets import split_episodes

    sources = [(ds.head(cfg.max_episodes) if cfg.max_episodes else ds).without_actions()
               for d in cfg.videos for ds in open_datasets(d)]
    n = sum(len(s) for s in sources)
    tr, va = split_episodes(n, cfg.val_fraction, cfg.seed)
    return Clips(sources, tr, c.image_size, c.plan_frames), Clips(sources, va, c.image_size, c.plan_frames)


def evaluate(model, clips: Clips, device, max_samples: int = 256, seed: int = 0) -> dict:
    """Held-out one-step prediction (first generated frame vs the true x_{t+1}) against copying x_t."""
    import torch

    model.eval()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(clips), min(max_samples, len(clips)), replace=False)
    g = torch.Generator().manual_seed(seed)
    mse = copy = 0.0
    for b in range(0, len(idx), 64):
        x, fut, ins = clips.batch(idx[b:b + 64])
        pred = model.sample(x.to(device), ins, generator=g).cpu()
        mse += float(((pred[:, 0] - fut[:, 0]) ** 2).mean()) * len(x)
        copy += float(((x - fut[:, 0]) ** 2).mean()) * len(x)
    model.train()
    n = len(idx)
    return {"one_step_mse": mse / n, "copy_mse": copy / n, "improvement_vs_copy": 1 - mse / max(copy, 1e-12),
            "samples": int(n), "sample_steps": model.config.sample_steps}


def format_eval(m):
    return (f"[unipi] held-out one-step prediction MSE {m['one_step_mse']:.5f} vs copy-x_t {m['copy_mse']:.5f} "
            f"({100 * m['improvement_vs_copy']:.1f}% lower; {m['samples']} samples, {m['sample_steps']} DDIM steps)")


def train(cfg: UniPiTrainConfig) -> Path:
    from policies import simple_loop
    from policies.idm import train_idm
    from policies.unipi.modeling_unipi import PRESETS, UniPiConfig, VideoUNet

    out, device, model, state = simple_loop.start(cfg, PRESETS, VideoUNet, UniPiConfig, "unipi")
    train_c, val_c = _clips(cfg, model.config)
    if state["step"] == 0:  # residual scale: unit std of x_{t+j} - x_t on a sample of the training clips
        x, fut, _ = train_c.batch(np.random.default_rng(cfg.seed).choice(len(train_c), min(256, len(train_c)),
                                                                          replace=False))
        model.residual_scale.fill_(1.0 / float((fut - x[:, None]).std().clamp_min(1e-3)))
    model.to(device).train()
    print(f"[unipi] video model: {len(train_c)} train / {len(val_c)} validation clips of {model.config.plan_frames} "
          f"frames at {model.config.image_size} px, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
          f"parameters, device {device}")
    bs = min(cfg.batch_size, len(train_c))

    def batch_loss(rng):
        x, fut, ins = train_c.batch(rng.choice(len(train_c), bs, replace=False))
        return model.loss(x.to(device), fut.to(device), ins)

    simple_loop.run(model, state, cfg, out, batch_loss, "unipi video model", lr=cfg.lr, clip=1.0)
    if not (out / "idm" / "eval.json").is_file():  # the IDM works at the video model's resolution
        s = model.config.image_size
        train_idm.train(train_idm.IDMTrainConfig(
            data=cfg.data, out=str(out / "idm"), steps=cfg.idm_steps, max_episodes=cfg.max_episodes,
            overrides={"image_size": s, "depth": 3 if s <= 32 else 4}, seed=cfg.seed, device=cfg.device,
            progress=cfg.progress))
    model.save_pretrained(out)
    m = evaluate(model, val_c, device)
    (out / "eval.json").write_text(json.dumps(m, indent=2))
    print(format_eval(m))
    return out


def eval_command(checkpoint, videos, val_fraction=0.1, seed=0, max_episodes=None, device="auto") -> dict:
    from lapa_bench.provenance import torch_device
    from policies.unipi.modeling_unipi import VideoUNet

    device = torch_device(device)
    model = VideoUNet.from_pretrained(checkpoint).to(device)
    cfg = UniPiTrainConfig(videos=videos, data=[], out="", val_fraction=val_fraction, seed=seed,
                           max_episodes=max_episodes)
    _, val_c = _clips(cfg, model.config)
    m = evaluate(model, val_c, device, seed=seed)
    print(format_eval(m))
    return m
