"""The training step cost of the VLA's small preset and its cheaper token sequences, as ratios measured in
one run (same process, same random batch, the one training loop).

    OMP_NUM_THREADS=2 python benchmarks/vla_step_cost.py [--steps 10] [--batch-size 32] [--device auto]

The preset's sequence per sample is 64 image tokens (8 x 8 conv cells) + 1 state token + the prompt
(``max_prompt_tokens`` = 48 padded byte tokens) + 28 query tokens (chunk 4 x 7 outputs): 141. Variants:

* ``pool_prompt``: the prompt's embeddings averaged into 1 token (-47);
* ``per_step``: one query token per chunk step (``query_tokens: per_step``, -24);
* both; both with a 5-conv stem (4 x 4 cells, -48 more).

A variant is only a cheaper recipe once it also learns as well (results/learning): this measures the cost.
"""
from __future__ import annotations

import argparse

VARIANTS = {
    "preset small": {},
    "pool_prompt": {"pool_prompt": True},
    "per_step queries": {"query_tokens": "per_step"},
    "both": {"pool_prompt": True, "query_tokens": "per_step"},
    "both + 4x4 cells": {"pool_prompt": True, "query_tokens": "per_step", "vision": {"depth": 5}},
}


def build(overrides: dict, batch_size: int):
    import dataclasses

    import torch

    from lapa_bench.policies.lapa.configuration_lapa import lapa_small
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    c = lapa_small()
    over = dict(overrides)
    if "vision" in over:
        over["vision"] = {**c.vision, **over["vision"]}
    c = dataclasses.replace(c, **over)
    model = LAPAModel(c)
    g = torch.Generator().manual_seed(0)
    b = batch_size
    batch = {"image": torch.rand(b, 3, c.image_size, c.image_size, generator=g),
             "instruction": ["put the spoon on the towel"] * b, "state": torch.randn(b, 7, generator=g),
             "target": torch.randn(b, c.chunk, 7, generator=g)}
    return model, batch


def tokens(model) -> int:
    """The sequence length the language model sees for one sample."""
    import torch

    seen = []
    h = model.language.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["inputs_embeds"].shape[1]),
                                                 with_kwargs=True)
    s = model.config.image_size
    tok = model.tokenize(["put the spoon on the towel"])
    with torch.no_grad():
        model(torch.zeros(1, 3, s, s), tok["input_ids"], tok["attention_mask"], torch.zeros(1, 7))
    h.remove()
    return seen[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    import torch

    from train_throughput import _timed  # this folder (run as a script)
    from lapa_bench.device import resolve_device

    device = str(resolve_device(args.device))
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch_size}, "
          f"{args.steps} timed steps (after 2 warm-up steps)")
    print(f"{'variant':<18} {'tokens':>6} {'params(M)':>9} {'samples/s':>10} {'s/step':>7} {'speed-up':>8}")
    base = None
    for name, over in VARIANTS.items():
        torch.manual_seed(0)
        model, batch = build(over, args.batch_size)
        n = tokens(model)
        r = _timed(model, batch, args.steps, device)
        base = base or r["samples_per_s"]
        print(f"{name:<18} {n:>6} {r['params_m']:>9.2f} {r['samples_per_s']:>10.1f} "
              f"{args.batch_size / r['samples_per_s']:>7.3f} {r['samples_per_s'] / base:>7.2f}x")


if __name__ == "__main__":
    main()
