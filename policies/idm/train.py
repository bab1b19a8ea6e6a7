"""The inverse dynamics model as a training method (a component of VPT and UniPi), its evaluation,
and pseudo-labelling of action-free videos.

    lapa-bench idm train --data data/bridge_demos --out ckpt/idm
    lapa-bench idm eval --checkpoint ckpt/idm --data data/bridge_demos    # held-out error vs the mean action

Training goes through the one loop; held-out metrics in ``OUT/eval.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.training import Inputs, TrainConfig, register_command, register_method, train_model
from lapa_bench.policies.idm.configuration_idm import IDMConfig, idm_tiny
from lapa_bench.data import open_sources


@dataclass
class IDMTrainConfig:
    model: IDMConfig = field(default_factory=idm_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1500, batch_size=64, lr=1e-3, weight_decay=1e-4, schedule="constant", warmup_steps=0, grad_clip=None,
        log_every=50, save_every=500))
    max_episodes: int | None = None


class ActionPairs:
    """(x_t, x_{t+1}, a_t) from datasets with actions, episodes split as in every stage."""

    def __init__(self, sources, episodes, image_size: int):
        from lapa_bench.data.torch_datasets import FramePairs

        self.pairs = FramePairs(sources, horizon=1, episodes=episodes, image_size=image_size, cache_episodes=10_000)
        self.actions = [s.episode(i, with_frames=False)["action"] for s in sources for i in range(len(s))]

    def __len__(self):
        return len(self.pairs)

    def collate(self, idx) -> dict:
        import torch

        batch = self.pairs.collate(idx)
        batch["action"] = torch.as_tensor(np.stack([self.actions[e][t] for e, t in zip(batch["episode"], batch["t"])]),
                                          dtype=torch.float32)
        return batch


def split(data, max_episodes, val_fraction, seed, image_size):
    from lapa_bench.data.torch_datasets import split_episodes

    sources = open_sources(data, max_episodes, actions=True)
    tr, va = split_episodes(sum(len(s) for s in sources), val_fraction, seed)
    return sources, ActionPairs(sources, tr, image_size), ActionPairs(sources, va, image_size)


def evaluate(model, pairs: ActionPairs, device, batch_size: int = 128) -> dict:
    """Held-out MSE per dimension of the IDM and of always predicting the mean action."""
    from lapa_bench.specs import ACTION_NAMES

    err, base, n = np.zeros(7), np.zeros(7), 0
    mean = model.action_mean.cpu().numpy()
    for b in range(0, len(pairs), batch_size):
        batch = pairs.collate(range(b, min(b + batch_size, len(pairs))))
        a = batch["action"].numpy()
        p = model.predict(batch["x_t"].to(device), batch["x_th"].to(device)).cpu().numpy()
        err += ((p - a) ** 2).sum(0)
        base += ((mean - a) ** 2).sum(0)
        n += len(a)
    err, base = err / max(n, 1), base / max(n, 1)
    m = {"mse": dict(zip(ACTION_NAMES, err.round(8).tolist())),
         "mean_action_mse": dict(zip(ACTION_NAMES, base.round(8).tolist())),
         "mse_total": float(err.sum()), "mean_action_mse_total": float(base.sum()),
         "ratio_to_mean_action": float(err.sum() / max(base.sum(), 1e-12)), "samples": n}
    print(f"[idm] held-out action MSE {m['mse_total']:.3e} vs mean-action {m['mean_action_mse_total']:.3e} "
          f"(ratio {m['ratio_to_mean_action']:.3f}; <1 beats the mean) on {m['samples']} steps")
    return m


@register_method("idm", config=IDMTrainConfig, needs=("data",))
def train(cfg: IDMTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """IDM: (x_t, x_t+1) -> action, trained on labelled trajectories (a component of VPT and UniPi)."""
    from lapa_bench.data.normalize import Normalizer
    from lapa_bench.policies.idm.modeling_idm import IDM

    sources, train_p, val_p = split(inputs.data, cfg.max_episodes, cfg.train.val_fraction, cfg.train.seed,
                                    cfg.model.image_size)
    model = IDM(cfg.model)
    model.set_normalizer(Normalizer.from_datasets(sources, ("action",)))
    print(f"[idm] {len(train_p)} train / {len(val_p)} validation steps")
    train_model(model, train_p, cfg.train, out, device=device, name="idm train",
                evaluate=lambda m, dev: evaluate(m, val_p, dev), state={"data": inputs.data})
    return Path(out)


@dataclass
class EvalCommand:
    checkpoint: str  # IDM checkpoint folder
    data: list[str]  # datasets with actions (the held-out split of training is used)
    out: str | None = None  # write the result as JSON here
    val_fraction: float = 0.1
    seed: int = 0
    max_episodes: int | None = None


@register_command("idm", "eval", EvalCommand, help="held-out action error of an IDM vs predicting the mean action")
def eval_command(cfg: EvalCommand, device: str = "auto") -> dict:
    from lapa_bench.device import resolve_device
    from lapa_bench.policies.idm.modeling_idm import IDM

    dev = resolve_device(device)
    model = IDM.from_pretrained(cfg.checkpoint).to(dev).eval()
    _, _, val_p = split(cfg.data, cfg.max_episodes, cfg.val_fraction, cfg.seed, model.config.image_size)
    m = evaluate(model, val_p, dev)
    if cfg.out:
        from lapa_bench.io import write_json_atomic

        write_json_atomic(cfg.out, m)
    return m


def label(checkpoint, data_dirs, max_episodes=None, device: str = "auto", batch_size: int = 128) -> dict:
    """Pseudo-actions of every step of every episode: {episode_key: (T, 7)} (last step repeated)."""
    from tqdm.auto import tqdm

    from lapa_bench.data import episode_key
    from lapa_bench.data.preprocess import ImagePreprocess
    from lapa_bench.device import resolve_device
    from lapa_bench.policies.idm.modeling_idm import IDM

    dev = resolve_device(device)
    model = IDM.from_pretrained(checkpoint).to(dev).eval()
    prep = ImagePreprocess(model.config.image_size)
    out = {}
    for ds in tqdm(open_sources(data_dirs, max_episodes), desc="idm label", dynamic_ncols=True):
        for i in range(len(ds)):
            x = prep(ds.frames(i)).to(dev)
            rows = [model.predict(x[b:b + batch_size][: len(x) - 1 - b], x[b + 1:b + 1 + batch_size]).cpu().numpy()
                    for b in range(0, len(x) - 1, batch_size)]
            a = np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)
            a = np.concatenate([a, a[-1:] if len(a) else np.zeros((1, 7), np.float32)])
            out[episode_key(ds, i)] = a.astype(np.float32)
    return out
