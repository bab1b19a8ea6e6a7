"""Held-out action-token accuracy of the mini run's policies beside two image-blind references.

    python results/mini/token_reference.py [runs/mini] > results/mini/token_reference.json

Rebuilds each finetuning stage's held-out split (its stage.json: data, val_fraction, seed) and
bins the actions with the checkpoint's own edges; no model is run. References: the training
split's most frequent bin per dimension, and the best constant on the held-out tokens
(`constant_accuracy`, which the trainer's eval.json reports from now on).
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from lapa_bench.data import open_datasets
from lapa_bench.data.torch_datasets import split_episodes
from policies.lapa.action_bins import encode
from policies.lapa.trainer import constant_accuracy

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
    rows[ck] = {"val_accuracy": json.loads((run / ck / "eval.json").read_text())["val_accuracy"],
                "train_majority_accuracy": float(np.mean(per_dim)),
                "train_majority_accuracy_per_dim": [round(x, 3) for x in per_dim],
                "constant_accuracy": constant_accuracy(val),
                "val_episodes": len(val_eps), "val_samples": len(val)}
print(json.dumps(rows, indent=2))
