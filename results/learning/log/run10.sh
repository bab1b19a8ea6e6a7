#!/usr/bin/env bash
# The tenth round of results/learning (README): the VLA `scratch` at 10 demonstrations per task with the ninth
# round's recipe (configs/learning.yaml: commanded state, short sequence), its training layouts executing 2 / 4 / 1
# (kept and last weights), SIMPLER seed 0 past the gate; `bc`'s image-size ablation at 10/task. Every closed-loop
# record now carries its `outcome` (bbd2c8a). Order as run (2026-12-02; runs/learning/run10_bg.sh and
# run10_after.sh ran these in the background; each step's revision is in their logs, copied into the README).
# Training alone on the 2 cores with 2 threads; checks one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
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
rollouts scratch runs/learning/scratchcmd_10 demos10 2 4 1
# 2. (run10_after.sh, at 621f062's code = bbd2c8a's) the kept step was 3000, so the last weights executing 2; the best
#    of the four (33/36) on SIMPLER seed 0; bc's image-size ablation (64 px, shift 4 px), its last weights
layouts scratch runs/learning/scratchcmd_10/last demos10 runs/learning/scratchcmd_10/train_layouts_last_execute2.json --policy.execute 2
simpler scratch runs/learning/scratchcmd_10/last scratchcmd_10_last_x2 --policy.execute 2
bc10 bc_10cmd64 --model.command_state true --model.image_size 64 --model.random_shift 4
layouts bc runs/learning/bc_10cmd64/last demos10 runs/learning/bc_10cmd64/train_layouts_last.json
# 3. (run10_c.sh) the last weights executing 4 and 1
for x in 4 1; do
  layouts scratch runs/learning/scratchcmd_10/last demos10 runs/learning/scratchcmd_10/train_layouts_last_execute$x.json --policy.execute $x
done
# 4. (run10_d.sh, run10_e.sh) SIMPLER seeds 1 2 executing 2; seeds 0 1 2 executing 4; bc_10cmd64's last weights seed 0
for s in 1/2 2/2; do
  OMP_NUM_THREADS=1 $B eval --policy scratch --checkpoint runs/learning/scratchcmd_10/last --policy.execute 2 --tasks all \
      --episodes 24 --seeds 1 2 --label scratchcmd_10_last_x2 --out runs/learning/eval/scratchcmd_10_last_x2_s12 --no-progress --shard $s &
done; wait
for s in 1/2 2/2; do
  OMP_NUM_THREADS=1 $B eval --policy scratch --checkpoint runs/learning/scratchcmd_10/last --policy.execute 4 --tasks all \
      --episodes 24 --seeds 0 1 2 --label scratchcmd_10_last_x4 --out runs/learning/eval/scratchcmd_10_last_x4 --no-progress --shard $s &
done; wait
simpler bc runs/learning/bc_10cmd64/last bc_10cmd64_last
bash results/learning/gather.sh scratchcmd_10 scratchcmd_10_last_x2 scratchcmd_10_last_x4 bc_10cmd64 bc_10cmd64_last
cp runs/learning/scratchcmd_10/train_layouts_*.json results/learning/scratchcmd_10/
cp runs/learning/bc_10cmd64/train_layouts_last.json results/learning/bc_10cmd64/
mkdir -p results/learning/scratchcmd_10_last_x2/eval_s12 && cp runs/learning/eval/scratchcmd_10_last_x2_s12/*.json* results/learning/scratchcmd_10_last_x2/eval_s12/
.venv/bin/python results/learning/table.py > results/learning/table.md
