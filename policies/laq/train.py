"""LAQ as a training method (stage 1 of LAPA), and its tools: label datasets with codes, probe, inspect.

    lapa-bench laq train --videos data/bridge_videos [data/panda_videos] --out ckpt/laq --train.steps 2000
    lapa-bench laq label --checkpoint ckpt/laq --data data/bridge_demos --out data/codes.npz
    lapa-bench laq probe --checkpoint ckpt/laq --data data/bridge_demos
    lapa-bench laq inspect --laq ckpt/laq --data data/bridge_demos --out runs/laq_inspect

Training goes through the one loop (:func:`lapa_bench.training.train_model`): resume from
``OUT/last``, ``OUT/log.csv`` with loss, codebook perplexity, codes used and replaced codes,
held-out reconstruction vs copying x_t and code usage in ``OUT/eval.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.training import Inputs, TrainConfig, register_command, register_method, train_model
from policies.laq.configuration_laq import LAQConfig, laq_tiny


@dataclass
class LAQTrainConfig:
    model: LAQConfig = field(default_factory=laq_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, lr=3e-4, weight_decay=0.01, schedule="constant", warmup_steps=0, grad_clip=None))
    max_episodes: int | None = None  # use only the first N episodes of each dataset


def build_pairs(sources, config: LAQConfig, val_fraction: float, seed: int):
    from lapa_bench.data.torch_datasets import FramePairs, split_episodes

    n = sum(len(s) for s in sources)
    train_eps, val_eps = split_episodes(n, val_fraction, seed)
    kw = dict(horizon=config.frame_gap, image_size=config.image_size, cache_episodes=10_000)
    return FramePairs(sources, episodes=train_eps, **kw), FramePairs(sources, episodes=val_eps, **kw)


def sources_of(dirs, max_episodes=None, actions: bool | None = None):
    """Every dataset under ``dirs`` (first ``max_episodes`` of each); ``actions=True`` requires labels,
    ``False`` hides them (an action-free view)."""
    from lapa_bench.data import open_datasets

    out = []
    for d in dirs:
        for ds in open_datasets(d):
            if actions and not ds.has_actions:
                raise ValueError(f"{ds.root} has no actions; this step needs action-labelled trajectories")
            ds = ds.head(max_episodes) if max_episodes is not None else ds
            out.append(ds.without_actions() if actions is False else ds)
    return out


def evaluate(model, pairs, device, batch_size=64, max_batches=20) -> dict:
    """Held-out reconstruction MSE vs copying x_t, and code usage/perplexity."""
    import torch

    from policies.laq.nsvq import NSVQ

    mse = copy = 0.0
    n = 0
    idx_all = []
    for b in range(0, min(len(pairs), batch_size * max_batches), batch_size):
        batch = pairs.collate(range(b, min(b + batch_size, len(pairs))))
        x_t, x_th = batch["x_t"].to(device), batch["x_th"].to(device)
        out = model(x_t, x_th)
        mse += float(((out["recon"] - x_th) ** 2).mean()) * len(x_t)
        copy += float(((x_t - x_th) ** 2).mean()) * len(x_t)
        idx_all.append(out["indices"].cpu())
        n += len(x_t)
    idx = torch.cat(idx_all) if idx_all else torch.zeros(0, dtype=torch.long)
    k = model.config.codebook_size
    usage = torch.bincount(idx.reshape(-1), minlength=k).tolist()
    m = {"val_mse": mse / max(n, 1), "copy_mse": copy / max(n, 1),
         "improvement_vs_copy": 1 - (mse / max(copy, 1e-12)) if n else 0.0,
         "perplexity": NSVQ.perplexity(idx, k), "codes_used": int(sum(u > 0 for u in usage)), "usage": usage}
    print(f"[laq] held-out MSE {m['val_mse']:.5f} vs copy-x_t {m['copy_mse']:.5f} "
          f"({100 * m['improvement_vs_copy']:.1f}% lower); perplexity {m['perplexity']:.2f}, "
          f"codes used {m['codes_used']}/{k}")
    return m


@register_method("laq", config=LAQTrainConfig, needs=("videos",))
def train(cfg: LAQTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """LAQ (LAPA stage 1): latent action codes from frame pairs of action-free videos."""
    from lapa_bench.training import checkpoint
    from policies.laq.modeling_laq import LAQ

    out = Path(out)
    model = LAQ(cfg.model)
    sources = sources_of(inputs.videos, cfg.max_episodes, actions=False)
    train_pairs, val_pairs = build_pairs(sources, cfg.model, cfg.train.val_fraction, cfg.train.seed)
    print(f"[laq] {len(train_pairs)} train / {len(val_pairs)} validation frame pairs (H={cfg.model.frame_gap})")
    train_model(model, train_pairs, cfg.train, out, device=device, name="laq train",
                evaluate=lambda m, dev: evaluate(m, val_pairs, dev), state={"videos": inputs.videos})
    assert checkpoint.is_done(out)
    return out


@dataclass
class LabelConfig:
    checkpoint: str  # LAQ checkpoint folder
    data: list[str]  # dataset folders to label
    out: str  # output .npz
    max_episodes: int | None = None


@register_command("laq", "label", LabelConfig, help="write the latent codes of every step of datasets (npz)")
def label_command(cfg: LabelConfig, device: str = "auto"):
    label(cfg.checkpoint, cfg.data, cfg.out, device=device, max_episodes=cfg.max_episodes)


@dataclass
class ProbeConfig:
    checkpoint: str  # LAQ checkpoint folder
    data: list[str]  # datasets with actions
    out: str | None = None  # write the result as JSON here
    max_episodes: int | None = None


@register_command("laq", "probe", ProbeConfig, help="linear probe: do the codes carry the true actions? (held-out R^2)")
def probe_command(cfg: ProbeConfig, device: str = "auto"):
    res = probe(cfg.checkpoint, cfg.data, device=device, max_episodes=cfg.max_episodes)
    if cfg.out:
        from lapa_bench.io import write_json_atomic

        write_json_atomic(cfg.out, res)
    return res


@dataclass
class InspectConfig:
    laq: str  # LAQ checkpoint folder
    data: list[str]  # dataset folders (with actions for the action stats)
    out: str  # output folder
    max_episodes: int | None = None
    examples: int = 4  # start frames per atlas row


@register_command("laq", "inspect", InspectConfig,
                  help="what does each code mean? atlas, usage, actions per code, HTML page")
def inspect_command(cfg: InspectConfig, device: str = "auto"):
    from policies.laq.inspect_laq import inspect

    return inspect(cfg.laq, cfg.data, cfg.out, max_episodes=cfg.max_episodes, examples=cfg.examples)


def label(checkpoint, data_dirs, out, device: str = "auto", batch_size: int = 64,
          max_episodes: int | None = None) -> Path:
    """Write the latent codes of every step of every episode: npz {episode_key: (T, code_seq_len)}.

    Step t gets the codes of (x_t, x_{t+H}); the last H steps repeat the final available codes.
    """
    import torch

    from lapa_bench.data import episode_key
    from lapa_bench.data.preprocess import ImagePreprocess
    from lapa_bench.device import resolve_device
    from policies.laq.modeling_laq import LAQ

    device = resolve_device(device)
    model = LAQ.from_pretrained(checkpoint).to(device).eval()
    c = model.config
    prep = ImagePreprocess(c.image_size)
    codes = {}
    for ds in sources_of(data_dirs, max_episodes):
        for i in range(len(ds)):
            x = prep(ds.frames(i)).to(device)
            H = min(c.frame_gap, len(x) - 1)
            rows = []
            for b in range(0, len(x) - H, batch_size):
                e = min(b + batch_size, len(x) - H)
                rows.append(model.label(x[b:e], x[b + H:e + H]).cpu())
            lab = torch.cat(rows).numpy()
            lab = np.concatenate([lab, np.repeat(lab[-1:], H, 0)])
            codes[episode_key(ds, i)] = lab.astype(np.int64)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **codes)
    print(f"[laq] labelled {len(codes)} episodes -> {out}")
    return out


def probe(checkpoint, data_dirs, val_fraction: float = 0.2, seed: int = 0, ridge: float = 1e-2,
          device: str = "auto", max_episodes: int | None = None, codes: dict | None = None) -> dict:
    """Linear probe: one-hot latent codes of step t -> the true action of step t (held-out R^2).

    Episodes are split into train/validation; a ridge regression is fitted on the train episodes
    and scored on the held-out ones, per action dimension; ``r2_translation`` averages x, y, z.
    With frame gap H > 1 the target is the sum of the H actions the codes span.
    """
    import tempfile

    from lapa_bench.data import episode_key
    from lapa_bench.data.torch_datasets import split_episodes
    from lapa_bench.specs import ACTION_NAMES
    from policies.laq.modeling_laq import LAQ

    cfg = LAQ.from_pretrained(checkpoint).config
    if codes is None:
        with tempfile.TemporaryDirectory() as tmp:
            codes = dict(np.load(label(checkpoint, data_dirs, Path(tmp) / "codes.npz", device=device,
                                       max_episodes=max_episodes)))
    X, Y, G = [], [], []
    e = 0
    for ds in sources_of(data_dirs, max_episodes):
        if not ds.has_actions:
            continue
        for i in range(len(ds)):
            a = ds.episode(i, with_frames=False)["action"]
            c = codes[episode_key(ds, i)]
            H = cfg.frame_gap
            n = len(a) - H + 1
            target = np.stack([a[t:t + H].sum(0) for t in range(n)])
            onehot = np.zeros((n, cfg.code_seq_len * cfg.codebook_size))
            for j in range(cfg.code_seq_len):
                onehot[np.arange(n), j * cfg.codebook_size + c[:n, j]] = 1
            X.append(onehot)
            Y.append(target)
            G.append(np.full(n, e))
            e += 1
    if e < 2:
        raise ValueError("the probe needs at least 2 episodes with actions")
    X, Y, G = np.concatenate(X), np.concatenate(Y), np.concatenate(G)
    train_eps, val_eps = split_episodes(e, val_fraction, seed)
    tr, va = np.isin(G, train_eps), np.isin(G, val_eps)
    Xb = np.hstack([X, np.ones((len(X), 1))])
    A = Xb[tr].T @ Xb[tr] + ridge * np.eye(Xb.shape[1])
    W = np.linalg.solve(A, Xb[tr].T @ Y[tr])
    pred = Xb[va] @ W
    ss_res = ((Y[va] - pred) ** 2).sum(0)
    ss_tot = ((Y[va] - Y[tr].mean(0)) ** 2).sum(0)
    # a dimension that is constant on the held-out steps has no R^2 (reported as null / nan)
    r2 = np.where(ss_tot > 1e-12, 1 - ss_res / np.maximum(ss_tot, 1e-12), np.nan)
    out = {"r2": {k: (None if np.isnan(v) else round(float(v), 4)) for k, v in zip(ACTION_NAMES, r2)},
           "r2_translation": float(np.nanmean(r2[:3])) if np.isfinite(r2[:3]).any() else float("nan"),
           "train_steps": int(tr.sum()), "val_steps": int(va.sum()), "episodes": e}
    print(f"[laq probe] held-out R^2 (codes -> action): "
          + ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in out["r2"].items())
          + f"; translation mean {out['r2_translation']:.3f}")
    return out
