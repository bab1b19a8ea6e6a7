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
from lapa_bench.training import Inputs, TrainConfig, checkpoint, register_method, train_model
from policies.bc.configuration_bc import BCConfig, bc_tiny


@dataclass
class BCTrainConfig:
    model: BCConfig = field(default_factory=bc_tiny)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=6000, weight_decay=1e-4, warmup_steps=100, log_every=100, save_every=1000))
    blind_twin_fraction: float = 0.5  # the image-blind twin trains this fraction of train.steps (0: no twin)
    max_episodes: int | None = None  # use only the first N episodes of each dataset


def _stored_size(sources):
    sizes = {s.image_size() for s in sources}
    if len(sizes) != 1:
        raise ValueError(f"the datasets store frames at different sizes {sorted(sizes)}; resize them to one")
    return sizes.pop()


@register_method("bc", config=BCTrainConfig, policy="bc", needs=("data",))
def train(cfg: BCTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """BC: a small CNN + proprio + instruction predicting action chunks (the reference any VLA must reach)."""
    import json

    from lapa_bench.data.normalize import Normalizer
    from lapa_bench.data.torch_datasets import chunk_samples, split_episodes
    from lapa_bench.training.checks import action_errors, format_check, predict_batch, verdict
    from policies.bc.modeling_bc import BCModel

    out = Path(out)
    sources = open_sources(inputs.data, cfg.max_episodes, actions=True)
    mcfg = replace(cfg.model, source_size=_stored_size(sources))
    norm = Normalizer.from_datasets(sources, ("action", "observation.state"))
    tr, va = split_episodes(sum(len(s) for s in sources), cfg.train.val_fraction, cfg.train.seed)
    train_ds, val_ds = (chunk_samples(sources, eps, mcfg.chunk, mcfg.preprocess(), state=mcfg.proprio)
                        for eps in (tr, va))
    print(f"[bc] {len(train_ds)} train / {len(val_ds)} validation steps ({len(tr)} / {len(va)} episodes)")

    def errors(m, dev):
        return action_errors(lambda b: predict_batch(m, b, dev), val_ds, norm.stats["action"]["mean"],
                             norm.stats["action"]["std"])

    twin_dir = out / "blind_twin"
    twin = {}
    if cfg.blind_twin_fraction > 0 and len(val_ds):
        if not checkpoint.is_done(twin_dir):
            m = BCModel(replace(mcfg, blind=True))
            m.set_normalizer(norm)
            train_model(m, train_ds, replace(cfg.train, steps=max(1, int(cfg.train.steps * cfg.blind_twin_fraction))),
                        twin_dir, device=device, name="bc blind twin", evaluate=errors)
        twin = json.loads((twin_dir / checkpoint.EVAL_FILE).read_text())
        twin = {k: twin[k] for k in ("action_error", "ratio_to_mean_action") if k in twin}
        twin["steps_fraction"] = cfg.blind_twin_fraction

    model = BCModel(mcfg)
    model.set_normalizer(norm)

    def evaluate(m, dev):
        e = errors(m, dev)
        if not e:
            return {}
        res = verdict({**e, "blind_twin": twin} if twin else e)
        print(format_check("bc", res))
        return res

    train_model(model, train_ds, cfg.train, out, device=device, name="bc train", evaluate=evaluate,
                state={"data": inputs.data})
    return out
