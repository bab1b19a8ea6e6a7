#!/usr/bin/env bash
# The tenth round of results/learning (README): the VLA `scratch` at 10 demonstrations per task with the ninth
# round's recipe (configs/learning.yaml: commanded state, short sequence), its training layouts executing 2 / 4 / 1
# (kept and last weights), SIMPLER seed 0 past the gate; `bc`'s image-size ablation at 10/task. Every closed-loop
# record now carries its `outcome` (bbd2c8a). Order as run (2026-12-02; runs/learning/run10_bg.sh and
# run10_after.sh ran these in the background; each step's revision is in their logs, copied into the README).
# Training alone on the 2 cores with 2 threads; checks one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, simpler, bc10
# data (a fresh checkout: collected again; the same seed gives the same 25 first episodes per task, 461 s)
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --out data/learning/demos --image-size 128x128 --workers 2 --seed 0 --no-progress
$B data subset data/learning/demos data/learning/demos25 --episodes 25
$B data subset data/learning/demos data/learning/demos10 --episodes 10
# 1. scratchcmd_10: scratchcmd_25's run on demos10
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos10 --out runs/learning/scratchcmd_10 --model.preset small \
    --model.pool_prompt true --model.query_tokens per_step --model.command_state true \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
for x in 2 4 1; do
  f=train_layouts_execute$x.json; [ $x = 1 ] && f=train_layouts.json
  layouts scratch runs/learning/scratchcmd_10 demos10 runs/learning/scratchcmd_10/$f --policy.execute $x
done
