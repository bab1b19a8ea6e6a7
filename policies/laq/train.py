"""LAQ as a training method (stage 1 of LAPA), and its CLI tools: label datasets with codes, probe, inspect.

    lapa-bench laq train --videos data/bridge_videos [data/panda_videos] --out ckpt/laq --train.steps 2000
    lapa-bench laq label --checkpoint ckpt/laq --data data/bridge_demos --out data/codes.npz
    lapa-bench laq probe --checkpoint ckpt/laq --data data/bridge_demos
    lapa-bench laq inspect --laq ckpt/laq --data data/bridge_demos --out runs/laq_inspect
    lapa-bench laq sweep --videos data/bridge_videos --data data/bridge_demos --out runs/laq_sweep \
        --grid '{"frame_gap": [1, 2, 4]}'

Training goes through the one loop (:func:`lapa_bench.training.train_model`): resume from
``OUT/last``, ``OUT/log.csv`` with loss, codebook perplexity, codes used and replaced codes,
held-out reconstruction vs copying x_t and code usage in ``OUT/eval.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lapa_bench.training import Inputs, TrainConfig, register_command, register_method, train_model
from lapa_bench.data import open_sources
from lapa_bench.policies.laq.codes import label, probe
from lapa_bench.policies.laq.configuration_laq import LAQConfig, laq_tiny


@dataclass
class LAQTrainConfig:
    model: LAQConfig = field(default_factory=laq_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, weight_decay=0.01, schedule="constant", warmup_steps=0, grad_clip=None))
    max_episodes: int | None = None  # use only the first N episodes of each dataset


def build_pairs(sources, config: LAQConfig, val_fraction: float, seed: int):
    from lapa_bench.data.torch_datasets import FramePairs, split_episodes

    n = sum(len(s) for s in sources)
    train_eps, val_eps = split_episodes(n, val_fraction, seed)
    kw = dict(horizon=config.frame_gap, image_size=config.image_size, cache_episodes=10_000)
    return FramePairs(sources, episodes=train_eps, **kw), FramePairs(sources, episodes=val_eps, **kw)


def evaluate(model, pairs, device, batch_size=64, max_batches=20) -> dict:
    """Held-out reconstruction MSE vs copying x_t, and code usage/perplexity."""
    import torch

    from lapa_bench.policies.laq.nsvq import NSVQ

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
    from lapa_bench.policies.laq.modeling_laq import LAQ

    out = Path(out)
    model = LAQ(cfg.model)
    sources = open_sources(inputs.videos, cfg.max_episodes, actions=False)
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
    from lapa_bench.policies.laq.inspect_laq import inspect

    return inspect(cfg.laq, cfg.data, cfg.out, max_episodes=cfg.max_episodes, examples=cfg.examples)


@dataclass
class SweepConfig:
    videos: list[str]  # action-free videos every LAQ of the sweep trains on
    data: list[str]  # labelled datasets (with actions) the probe scores the codes against
    out: str  # output folder: one LAQ per combination, sweep.json / sweep.md / sweep.png
    # LAQ settings -> the values to try (every combination), e.g. {"frame_gap": [1, 2, 4], "codebook_size": [8, 16]},
    # or a list of combinations to try as listed, e.g. [{"image_size": 64, "patch_size": 8}, {"image_size": 128, ...}]
    grid: dict | list[dict] = field(default_factory=lambda: {"frame_gap": [1, 2, 4]})
    model: LAQConfig = field(default_factory=laq_tiny)  # the settings the grid does not name
    train: TrainConfig = field(default_factory=lambda: LAQTrainConfig().train)
    max_episodes: int | None = None  # use only the first N episodes of each dataset (videos and data)
    min_r2_translation: float = 0.5  # the bar: probe R^2 averaged over dx, dy, dz
    max_code_share: float = 0.5  # the bar: no code on more than this share of tokens (videos and data)


@register_command("laq", "sweep", SweepConfig,
                  help="train one LAQ per combination of settings, probe each: which codes are latent actions")
def sweep_command(cfg: SweepConfig, device: str = "auto"):
    from lapa_bench.policies.laq.sweep import sweep

    def train_one(model: LAQConfig, folder: Path):
        train(LAQTrainConfig(model=model, train=cfg.train, max_episodes=cfg.max_episodes), Inputs(videos=cfg.videos),
              folder, device=device)

    return sweep(cfg, train_one, device=device)
