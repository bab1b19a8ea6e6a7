"""Train the latent action quantization model (stage 1), and label datasets with its codes.

    lapa-bench laq train --data data/bridge_demos [data/panda_videos] --preset tiny --steps 2000 --out ckpt/laq
    lapa-bench laq label ckpt/laq --data data/bridge_demos --out data/bridge_demos_codes.npz

Training resumes from ``OUT/last`` when it exists; losses, codebook perplexity and per-code usage
go to ``OUT/log.csv`` (and TensorBoard when installed). One code path for CPU and CUDA.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class LAQTrainConfig:
    data: list[str]
    out: str
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # LAQConfig fields
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    val_fraction: float = 0.1
    log_every: int = 25
    save_every: int = 250
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    progress: bool = True


def _batches(ds, batch_size, rng):
    import torch

    while True:
        order = rng.permutation(len(ds))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            items = [ds[int(k)] for k in order[i:i + batch_size]]
            yield torch.stack([x["x_t"] for x in items]), torch.stack([x["x_th"] for x in items])


def build_pairs(data_dirs, config, val_fraction, seed):
    from lapa_bench.data import open_datasets
    from lapa_bench.data.torch_datasets import FramePairs, split_episodes

    sources = [ds.without_actions() for d in data_dirs for ds in open_datasets(d)]
    n = sum(len(s) for s in sources)
    train_eps, val_eps = split_episodes(n, val_fraction, seed)
    size = (config.image_size, config.image_size)
    kw = dict(horizon=config.frame_gap, image_size=size, cache_episodes=10_000)
    return FramePairs(sources, episodes=train_eps, **kw), FramePairs(sources, episodes=val_eps, **kw)


def evaluate(model, pairs, device, batch_size=64, max_batches=20) -> dict:
    """Held-out reconstruction MSE vs copying x_t, and code usage/perplexity."""
    import torch

    from policies.lapa.nsvq import NSVQ

    model.eval()
    mse = copy = 0.0
    n = 0
    idx_all = []
    with torch.no_grad():
        for b in range(0, min(len(pairs), batch_size * max_batches), batch_size):
            items = [pairs[k] for k in range(b, min(b + batch_size, len(pairs)))]
            x_t = torch.stack([x["x_t"] for x in items]).to(device)
            x_th = torch.stack([x["x_th"] for x in items]).to(device)
            out = model(x_t, x_th)
            mse += float(((out["recon"] - x_th) ** 2).mean()) * len(items)
            copy += float(((x_t - x_th) ** 2).mean()) * len(items)
            idx_all.append(out["indices"].cpu())
            n += len(items)
    model.train()
    idx = torch.cat(idx_all) if idx_all else torch.zeros(0, dtype=torch.long)
    k = model.config.codebook_size
    usage = torch.bincount(idx.reshape(-1), minlength=k).tolist()
    return {"val_mse": mse / max(n, 1), "copy_mse": copy / max(n, 1),
            "improvement_vs_copy": 1 - (mse / max(copy, 1e-12)) if n else 0.0,
            "perplexity": NSVQ.perplexity(idx, k), "codes_used": int(sum(u > 0 for u in usage)), "usage": usage}


def train(cfg: LAQTrainConfig) -> Path:
    import torch
    from tqdm.auto import tqdm

    from lapa_bench.provenance import torch_device
    from policies.lapa.configuration_laq import PRESETS, LAQConfig
    from policies.lapa.modeling_laq import LAQ
    from policies.lapa.nsvq import NSVQ

    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown LAQ preset {cfg.preset!r}; choose from {sorted(PRESETS)}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch_device(cfg.device)
    torch.manual_seed(cfg.seed)
    last = out / "last"
    if (last / "model.safetensors").is_file():
        model = LAQ.from_pretrained(last)
        state = json.loads((last / "trainer_state.json").read_text())
        print(f"[laq] resuming from {last} at step {state['step']}")
    else:
        base = asdict(PRESETS[cfg.preset]())
        base.update(cfg.overrides)
        model, state = LAQ(LAQConfig(**base)), {"step": 0}
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if (last / "optimizer.pt").is_file():
        opt.load_state_dict(torch.load(last / "optimizer.pt", map_location=device))
    train_pairs, val_pairs = build_pairs(cfg.data, model.config, cfg.val_fraction, cfg.seed)
    print(f"[laq] {len(train_pairs)} train / {len(val_pairs)} validation frame pairs (H={model.config.frame_gap}), "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, device {device}")
    rng = np.random.default_rng([cfg.seed, state["step"]])
    batches = _batches(train_pairs, min(cfg.batch_size, len(train_pairs)), rng)
    log_path = out / "log.csv"
    new_log = not log_path.exists()
    logf = open(log_path, "a", newline="")
    writer = csv.writer(logf)
    if new_log:
        writer.writerow(["step", "loss", "perplexity", "codes_used", "replaced", "samples_per_s", "usage"])
    tb = None
    try:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(out / "tb")
    except Exception:
        pass

    def save(where: Path):
        model.save_pretrained(where)
        torch.save(opt.state_dict(), where / "optimizer.pt")
        (where / "trainer_state.json").write_text(json.dumps({"step": state["step"], "config": asdict(cfg)},
                                                             indent=2, default=str))

    bar = tqdm(total=cfg.steps, initial=state["step"], desc="laq train", disable=not cfg.progress, dynamic_ncols=True)
    t0, seen, idx_window = time.perf_counter(), 0, []
    try:
        while state["step"] < cfg.steps:
            x_t, x_th = (t.to(device) for t in next(batches))
            out_ = model(x_t, x_th)
            opt.zero_grad(set_to_none=True)
            out_["loss"].backward()
            opt.step()
            replaced = model.maybe_replace_codes(out_["z_e"].detach())
            state["step"] += 1
            seen += len(x_t)
            idx_window.append(out_["indices"].detach().cpu())
            bar.update(1)
            if state["step"] % cfg.log_every == 0 or replaced:
                idx = torch.cat(idx_window)
                usage = torch.bincount(idx.reshape(-1), minlength=model.config.codebook_size).tolist()
                ppl = NSVQ.perplexity(idx, model.config.codebook_size)
                sps = seen / (time.perf_counter() - t0)
                writer.writerow([state["step"], f"{out_['loss'].item():.6f}", f"{ppl:.3f}",
                                 sum(u > 0 for u in usage), replaced, f"{sps:.1f}", " ".join(map(str, usage))])
                logf.flush()
                if tb:
                    tb.add_scalar("loss", out_["loss"].item(), state["step"])
                    tb.add_scalar("perplexity", ppl, state["step"])
                bar.set_postfix_str(f"loss {out_['loss'].item():.4f} ppl {ppl:.2f} used {sum(u > 0 for u in usage)}"
                                    f"/{model.config.codebook_size}")
                idx_window, seen, t0 = [], 0, time.perf_counter()
            if state["step"] % cfg.save_every == 0:
                save(last)
    finally:
        bar.close()
        logf.close()
        if tb:
            tb.close()
    save(last)
    model.save_pretrained(out)  # the final model at the top level: `from_pretrained(OUT)`
    metrics = evaluate(model, val_pairs, device)
    (out / "eval.json").write_text(json.dumps(metrics, indent=2))
    print(f"[laq] held-out MSE {metrics['val_mse']:.5f} vs copy-x_t {metrics['copy_mse']:.5f} "
          f"({100 * metrics['improvement_vs_copy']:.1f}% lower); perplexity {metrics['perplexity']:.2f}, "
          f"codes used {metrics['codes_used']}/{model.config.codebook_size}")
    return out


def label(checkpoint, data_dirs, out, device: str = "auto", batch_size: int = 64,
          max_episodes: int | None = None) -> Path:
    """Write the latent codes of every step of every episode: npz {"<dataset>/<episode>": (T, code_seq_len)}.

    Step t gets the codes of (x_t, x_{t+H}); the last H steps repeat the final available codes.
    """
    import torch

    from lapa_bench.data import open_datasets
    from lapa_bench.provenance import torch_device
    from policies.lapa.modeling_laq import LAQ

    device = torch_device(device)
    model = LAQ.from_pretrained(checkpoint).to(device).eval()
    c = model.config
    codes = {}
    import cv2

    for d in data_dirs:
        for ds in open_datasets(d):
            if max_episodes is not None:
                ds = ds.head(max_episodes)
            for i in range(len(ds)):
                f = ds.frames(i)
                f = np.stack([cv2.resize(x, (c.image_size, c.image_size), interpolation=cv2.INTER_AREA) for x in f])
                x = torch.from_numpy(f).permute(0, 3, 1, 2).float().div(255).to(device)
                H = min(c.frame_gap, len(x) - 1)
                rows = []
                for b in range(0, len(x) - H, batch_size):
                    e = min(b + batch_size, len(x) - H)
                    rows.append(model.label(x[b:e], x[b + H:e + H]).cpu())
                lab = torch.cat(rows).numpy()
                lab = np.concatenate([lab, np.repeat(lab[-1:], H, 0)])
                codes[f"{Path(ds.root).name}/{ds.episodes[i]['episode_index']}"] = lab.astype(np.int64)
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

    from lapa_bench.data import open_datasets
    from lapa_bench.data.torch_datasets import split_episodes
    from lapa_bench.specs import ACTION_NAMES
    from policies.lapa.modeling_laq import LAQ

    cfg = LAQ.from_pretrained(checkpoint).config
    if codes is None:
        with tempfile.TemporaryDirectory() as tmp:
            codes = dict(np.load(label(checkpoint, data_dirs, Path(tmp) / "codes.npz", device=device,
                                       max_episodes=max_episodes)))
    X, Y, G = [], [], []
    e = 0
    for d in data_dirs:
        for ds in open_datasets(d):
            if not ds.has_actions:
                continue
            ds = ds.head(max_episodes) if max_episodes else ds
            for i in range(len(ds)):
                a = ds.episode(i, with_frames=False)["action"]
                c = codes[f"{Path(ds.root).name}/{ds.episodes[i]['episode_index']}"]
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
