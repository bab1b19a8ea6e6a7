"""``bc`` as a training method: the reference small CNN on labelled trajectories, with its learning check.

    lapa-bench bc train --data data/bridge_demos --out ckpt/bc [--train.steps 6000]

Trains an image-blind twin first (``OUT/blind_twin``, a ``blind_twin_fraction`` of the steps), then the
model; ``OUT/eval.json`` holds the held-out action error of the model, of the mean action and of the
twin, and ``learned`` (ratio to the mean action <= 0.6 and below the twin).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lapa_bench.data import open_sources
from lapa_bench.training import Inputs, TrainConfig, register_method
from lapa_bench.policies.bc.configuration_bc import BCConfig, bc_tiny


@dataclass
class BCTrainConfig:
    model: BCConfig = field(default_factory=bc_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=6000, weight_decay=1e-4, warmup_steps=100, log_every=100, save_every=1000))
    blind_twin_fraction: float = 0.5  # the image-blind twin trains this fraction of train.steps (0: no twin)
    max_episodes: int | None = None  # use only the first N episodes of each dataset


@register_method("bc", config=BCTrainConfig, policy="bc", needs=("data",))
def train(cfg: BCTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """BC: a small CNN + proprio + instruction predicting action chunks (the reference any VLA must reach)."""
    from lapa_bench.data import stored_image_size
    from lapa_bench.data.normalize import Normalizer
    from lapa_bench.data.command import add_command_stats
    from lapa_bench.data.torch_datasets import chunk_samples, episode_keys, split_episodes
    from lapa_bench.training.checks import action_errors, predict_batch, train_with_learning_check
    from lapa_bench.policies.bc.modeling_bc import BCModel

    sources = open_sources(inputs.data, cfg.max_episodes, actions=True)
    mcfg = replace(cfg.model, source_size=stored_image_size(sources))
    norm = Normalizer.from_datasets(sources, ("action", "observation.state"))
    if mcfg.command_state:
        add_command_stats(norm, sources)
    tr, va = split_episodes(sum(len(s) for s in sources), cfg.train.val_fraction, cfg.train.seed)
    train_ds, val_ds = (chunk_samples(sources, eps, mcfg.chunk, mcfg.preprocess(), state=mcfg.proprio,
                                      command_state=mcfg.command_state) for eps in (tr, va))
    print(f"[bc] {len(tr)} / {len(va)} train / validation episodes")

    def errors(m, dev, val):
        return action_errors(lambda b: predict_batch(m, b, dev), val, norm.stats["action"]["mean"],
                             norm.stats["action"]["std"])

    def build(blind: bool):
        m = BCModel(replace(mcfg, blind=blind))
        m.set_normalizer(norm)
        return m

    train_with_learning_check(lambda: build(False), lambda: build(True), lambda m: (train_ds, val_ds), cfg.train,
                              out, errors=errors, device=device, name="bc train", fraction=cfg.blind_twin_fraction,
                              state={"data": inputs.data, "held_out_episodes": episode_keys(sources, va)})
    return Path(out)
