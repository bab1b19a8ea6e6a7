"""Train and evaluate the inverse dynamics model; label action-free videos with pseudo-actions.

    lapa-bench idm train --data data/bridge_demos --out ckpt/idm
    lapa-bench idm eval ckpt/idm --data data/bridge_demos      # held-out error vs the mean action

Resumes from ``OUT/last``; log in ``OUT/log.csv``; held-out metrics in ``OUT/eval.json``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class IDMTrainConfig:
    data: list[str]
    out: str
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    val_fraction: float = 0.1
    max_episodes: int | None = None
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    save_every: int = 500
    progress: bool = True


class ActionPairs:
    """(x_t, x_{t+1}, a_t) from datasets with actions, episodes split as in every stage."""

    def __init__(self, sources, episodes, image_size: int):
        from lapa_bench.data.torch_datasets import FramePairs

        self.pairs = FramePairs(sources, horizon=1, episodes=episodes, image_size=(image_size, image_size),
                                cache_episodes=10_000)
        self.actions = [s.episode(i, with_frames=False)["action"] for s in sources for i in range(len(s))]

    def __len__(self):
        return len(self.pairs)

    def batch(self, idx):
        import torch

        items = [self.pairs[int(k)] for k in idx]
        a = np.stack([self.actions[x["episode"]][x["t"]] for x in items])
        return (torch.stack([x["x_t"] for x in items]), torch.stack([x["x_th"] for x in items]),
                torch.as_tensor(a, dtype=torch.float32))


def _sources(dirs, max_episodes):
    from lapa_bench.data import open_datasets

    out = []
    for d in dirs:
        for ds in open_datasets(d):
            if not ds.has_actions:
                raise ValueError(f"{ds.root} has no actions; the IDM trains on action-labelled trajectories")
            out.append(ds.head(max_episodes) if max_episodes else ds)
    return out


def split(cfg_data, max_episodes, val_fraction, seed, image_size):
    from lapa_bench.data.torch_datasets import split_episodes

    sources = _sources(cfg_data, max_episodes)
    n = sum(len(s) for s in sources)
    tr, va = split_episodes(n, val_fraction, seed)
    return ActionPairs(sources, tr, image_size), ActionPairs(sources, va, image_size)


def evaluate(model, pairs: ActionPairs, device, batch_size: int = 128) -> dict:
    """Held-out MSE per dimension of the IDM and of always predicting the training mean action."""
    import torch

    from lapa_bench.specs import ACTION_NAMES

    model.eval()
    err, base, n = np.zeros(7), np.zeros(7), 0
    mean = model.action_mean.cpu().numpy()
    with torch.no_grad():
        for b in range(0, len(pairs), batch_size):
            x, y, a = pairs.batch(range(b, min(b + batch_size, len(pairs))))
            p = model.predict(x.to(device), y.to(device)).cpu().numpy()
            err += ((p - a.numpy()) ** 2).sum(0)
            base += ((mean - a.numpy()) ** 2).sum(0)
            n += len(a)
    model.train()
    err, base = err / max(n, 1), base / max(n, 1)
    return {"mse": dict(zip(ACTION_NAMES, err.round(8).tolist())),
            "mean_action_mse": dict(zip(ACTION_NAMES, base.round(8).tolist())),
            "mse_total": float(err.sum()), "mean_action_mse_total": float(base.sum()),
            "ratio_to_mean_action": float(err.sum() / max(base.sum(), 1e-12)), "samples": n}


def format_eval(m: dict) -> str:
    return (f"[idm] held-out action MSE {m['mse_total']:.3e} vs mean-action {m['mean_action_mse_total']:.3e} "
            f"(ratio {m['ratio_to_mean_action']:.3f}; <1 beats the mean) on {m['samples']} steps")


def train(cfg: IDMTrainConfig) -> Path:
    from policies import simple_loop
    from policies.idm.modeling_idm import IDM, PRESETS, IDMConfig

    out, device, model, state = simple_loop.start(cfg, PRESETS, IDM, IDMConfig, "idm")
    train_p, val_p = split(cfg.data, cfg.max_episodes, cfg.val_fraction, cfg.seed, model.config.image_size)
    if state["step"] == 0:
        model.set_stats(np.concatenate([train_p.actions[e] for e in sorted({e for e, _ in train_p.pairs.index})]))
    model.to(device).train()
    print(f"[idm] {len(train_p)} train / {len(val_p)} validation steps, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, device {device}")
    bs = min(cfg.batch_size, len(train_p))

    def batch_loss(rng):
        x, y, a = (t.to(device) for t in train_p.batch(rng.choice(len(train_p), bs, replace=False)))
        return model.loss(x, y, a)

    simple_loop.run(model, state, cfg, out, batch_loss, "idm train", lr=cfg.lr, weight_decay=1e-4)
    model.save_pretrained(out)
    m = evaluate(model, val_p, device)
    (out / "eval.json").write_text(json.dumps(m, indent=2))
    print(format_eval(m))
    return out


def eval_command(checkpoint, data, val_fraction=0.1, seed=0, max_episodes=None, device="auto") -> dict:
    """The held-out split of ``data`` (the same split as training with the same seed)."""
    from lapa_bench.provenance import torch_device
    from policies.idm.modeling_idm import IDM

    device = torch_device(device)
    model = IDM.from_pretrained(checkpoint).to(device)
    _, val_p = split(data, max_episodes, val_fraction, seed, model.config.image_size)
    m = evaluate(model, val_p, device)
    print(format_eval(m))
    return m


def label(checkpoint, data_dirs, max_episodes=None, device: str = "auto", batch_size: int = 128) -> dict:
    """Pseudo-actions of every step of every episode: {"<dataset>/<episode>": (T, 7)} (last step repeated)."""
    import cv2
    import torch
    from tqdm.auto import tqdm

    from lapa_bench.data import open_datasets
    from lapa_bench.provenance import torch_device
    from policies.idm.modeling_idm import IDM

    device = torch_device(device)
    model = IDM.from_pretrained(checkpoint).to(device).eval()
    s = model.config.image_size
    out = {}
    parts = [ds.head(max_episodes) if max_episodes else ds for d in data_dirs for ds in open_datasets(d)]
    for ds in tqdm(parts, desc="idm label", dynamic_ncols=True):
        for i in range(len(ds)):
            f = np.stack([cv2.resize(x, (s, s), interpolation=cv2.INTER_AREA) for x in ds.frames(i)])
            x = torch.from_numpy(f).permute(0, 3, 1, 2).float().div(255).to(device)
            rows = [model.predict(x[b:b + batch_size][: len(x) - 1 - b], x[b + 1:b + 1 + batch_size]).cpu().numpy()
                    for b in range(0, len(x) - 1, batch_size)]
            a = np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)
            a = np.concatenate([a, a[-1:] if len(a) else np.zeros((1, 7), np.float32)])
            out[f"{Path(ds.root).name}/{ds.episodes[i]['episode_index']}"] = a.astype(np.float32)
    return out
