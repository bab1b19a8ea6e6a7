"""Held-out action-token accuracy of the mini run's policies beside two image-blind references.

    python results/mini/token_reference.py [runs/mini] > results/mini/token_reference.json

Rebuilds each finetuning stage's held-out split (its stage.json: data, val_fraction, seed), bins
the actions with the checkpoint's own edges and runs the checkpoint on those samples (CPU) for
its per-dimension accuracy. References: the training split's most frequent bin per dimension,
and the best constant on the held-out tokens (`constant_accuracy`, which the trainer's eval.json
reports from now on).
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

import torch

from lapa_bench.data import open_datasets
from lapa_bench.data.torch_datasets import StepSamples, split_episodes
from lapa_bench.policies.lapa.action_bins import encode
from lapa_bench.policies.lapa.modeling_lapa import LAPAModel
from lapa_bench.policies.lapa.train import constant_accuracy

run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/mini")
rows = {}
for ck in ("lapa_bridge", "lapa_panda", "scratch", "vpt"):
    stage = json.loads((run / ck / "stage.json").read_text())
    cfg = stage["config"]
    actions = [ds.episode(i, with_frames=False)["action"] for d in stage["data"] for ds in open_datasets(d)
               for i in range(len(ds))]
    train_eps, val_eps = split_episodes(len(actions), cfg["val_fraction"], cfg["seed"])
    edges = load_file(str(run / ck / "model.safetensors"))["action_edges"]
    val = np.concatenate([encode(actions[e], edges) for e in val_eps])
    train = np.concatenate([encode(actions[e], edges) for e in train_eps])
    majority = [np.bincount(train[:, d]).argmax() for d in range(train.shape[1])]
    per_dim = [float((val[:, d] == majority[d]).mean()) for d in range(val.shape[1])]
    model = LAPAModel.from_pretrained(run / ck).eval()
    samples = StepSamples([ds for d in stage["data"] for ds in open_datasets(d)],
                          {e: encode(a, edges) for e, a in enumerate(actions)}, val_eps,
                          image_size=(model.config.image_size,) * 2)
    hits = []
    with torch.no_grad():
        for b in range(0, len(samples), 64):
            batch = samples.collate(range(b, min(b + 64, len(samples))))
            tok = model.tokenize(batch["instruction"])
            logits = model(batch["image"], tok["input_ids"], tok["attention_mask"])
            hits.append((logits.argmax(-1) == batch["target"]).float().numpy())
    model_per_dim = np.concatenate(hits).mean(0)
    rows[ck] = {"val_accuracy": json.loads((run / ck / "eval.json").read_text())["val_accuracy"],
                "model_accuracy_per_dim": [round(float(x), 3) for x in model_per_dim],
                "train_majority_accuracy": float(np.mean(per_dim)),
                "train_majority_accuracy_per_dim": [round(x, 3) for x in per_dim],
                "constant_accuracy": constant_accuracy(val),
                "val_episodes": len(val_eps), "val_samples": len(val)}
print(json.dumps(rows, indent=2))
