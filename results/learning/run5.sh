#!/usr/bin/env bash
# The fifth round of results/learning (README): the VLA `scratch` (preset small) at 100 demos/task.
# Order as run (2026-12-01). Training alone on the 2 cores with 2 torch threads; evaluation one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
# data: 100 per task (the first 25 are the fourth round's demos25; the collection resumes where it stopped)
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 100 --out data/learning/demos --image-size 128x128 --workers 2 --seed 0
# scratch_100: preset small (8 x 8 conv tokens + query readout), 15000 steps (a budget that fits one session with its evaluation)
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos --out runs/learning/scratch_100 --model.preset small \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# checks: training layouts (first 10 per task) with the preset's rollout (execute 1 of each chunk of 4)
export OMP_NUM_THREADS=1
$B data replay-check data/learning/demos --policy scratch --checkpoint runs/learning/scratch_100 --max-episodes 10 \
    --out runs/learning/scratch_100/train_layouts.json --workers 2
# (gated: >= 8 successes on the trained layouts before SIMPLER's layouts are run; runs/learning/eval5.sh)
# the gate stopped here (6/37 trained layouts < 8). The same checkpoint executing 4 of each chunk of 4 (ACT-style):
$B data replay-check data/learning/demos --policy scratch --checkpoint runs/learning/scratch_100 --max-episodes 10 \
    --out runs/learning/scratch_100/train_layouts_execute4.json --workers 2 --policy.execute 4
# 14/37: past the gate, so SIMPLER's 4 x 24 layouts, seed 0 (= runs/learning/eval5x4.sh)
for s in 1/2 2/2; do
  $B eval --policy scratch --checkpoint runs/learning/scratch_100 --policy.execute 4 --tasks all --episodes 24 --seeds 0 \
      --label scratch_100_x4 --out runs/learning/eval/scratch_100_x4 --no-progress --shard $s &
done
wait
bash results/learning/gather.sh scratch_100 scratch_100_x4
# the same setting on the fourth round's weaker checkpoint (25/task, 5000 steps)
$B data replay-check data/learning/demos25 --policy scratch --checkpoint runs/learning/scratchqr_25 --max-episodes 10 \
    --out runs/learning/scratchqr_25/train_layouts_execute4.json --workers 2 --policy.execute 4
for s in 1/2 2/2; do
  $B eval --policy scratch --checkpoint runs/learning/scratchqr_25 --policy.execute 4 --tasks all --episodes 24 --seeds 0 \
      --label scratchqr_25_x4 --out runs/learning/eval/scratchqr_25_x4 --no-progress --shard $s &
done
wait
bash results/learning/gather.sh scratchqr_25_x4
# executing 2 of each chunk of 4, training layouts only, both checkpoints
for r in scratch_100:demos scratchqr_25:demos25; do
  run=${r%%:*} d=${r#*:}
  $B data replay-check data/learning/$d --policy scratch --checkpoint runs/learning/$run --max-episodes 10 \
      --out runs/learning/$run/train_layouts_execute2.json --workers 2 --policy.execute 2 &
done
wait
