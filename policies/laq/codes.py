"""What the LAQ's codes say: label every step of datasets with them, and probe them against true actions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.data import open_sources


def label(checkpoint, data_dirs, out, device: str = "auto", batch_size: int = 64,
          max_episodes: int | None = None) -> Path:
    """Write the latent codes of every step of every episode: npz {episode_key: (T, code_seq_len)}.

    Step t gets the codes of (x_t, x_{t+H}); the last H steps repeat the final available codes.
    """
    import torch

    from lapa_bench.data import episode_key
    from lapa_bench.data.preprocess import ImagePreprocess
    from lapa_bench.device import resolve_device
    from lapa_bench.policies.laq.modeling_laq import LAQ

    device = resolve_device(device)
    model = LAQ.from_pretrained(checkpoint).to(device).eval()
    c = model.config
    prep = ImagePreprocess(c.image_size)
    codes = {}
    for ds in open_sources(data_dirs, max_episodes):
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
    from lapa_bench.policies.laq.modeling_laq import LAQ

    cfg = LAQ.from_pretrained(checkpoint).config
    if codes is None:
        with tempfile.TemporaryDirectory() as tmp:
            codes = dict(np.load(label(checkpoint, data_dirs, Path(tmp) / "codes.npz", device=device,
                                       max_episodes=max_episodes)))
    X, Y, G = [], [], []
    e = 0
    for ds in open_sources(data_dirs, max_episodes):
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
        raise UserError("the probe needs at least 2 episodes with actions")
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
    print("[laq probe] held-out R^2 (codes -> action): "
          + ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in out["r2"].items())
          + f"; translation mean {out['r2_translation']:.3f}")
    return out
