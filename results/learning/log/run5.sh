#!/usr/bin/env bash
# The fifth round of results/learning (README): the VLA `scratch` (preset small) at 100 demos/task.
# Order as run (2026-12-01). Training alone on the 2 cores with 2 torch threads; evaluation one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
# data: 100 per task (the first 25 are the fourth round's demos25; the collection resumes where it stopped)
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 100 --out data/learning/demos --image-size 128x128 --workers 2 --seed 0
# scratch_100: preset small (8 x 8 conv tokens + query readout), 15000 steps (a budget that fits ~2.5 h with its evaluation)
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos --out runs/learning/scratch_100 --model.preset small \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# the checks, one torch thread per process:
#   layouts RUN DATA EXECUTE FILE: the training-layout check (first 10 per task), executing EXECUTE of each chunk of 4
#   simpler RUN EXECUTE LABEL SEEDS...: SIMPLER's 4 x 24 layouts in 2 shards
export OMP_NUM_THREADS=1
layouts() {
  $B data replay-check data/learning/$2 --policy scratch --checkpoint runs/learning/$1 --max-episodes 10 \
      --out runs/learning/$1/$4 --workers 2 --policy.execute $3
}
simpler() {
  local run=$1 execute=$2 label=$3; shift 3
  for s in 1/2 2/2; do
    $B eval --policy scratch --checkpoint runs/learning/$run --policy.execute $execute --tasks all --episodes 24 \
        --seeds "$@" --label $label --out runs/learning/eval/$label$([ "$*" = 0 ] || echo _s12) --no-progress --shard $s &
  done
  wait
}
# the preset's rollout (execute 1, the checkpoint's own; as run at 4eb0fe4, before the flag existed, without it)
layouts scratch_100 demos 1 train_layouts.json
# (gated: >= 8 successes on the trained layouts before SIMPLER's layouts are run; runs/learning/eval5.sh)
# the gate stopped here (6/37 trained layouts < 8). The same checkpoint executing 4 of each chunk of 4 (ACT-style):
layouts scratch_100 demos 4 train_layouts_execute4.json
# 14/37: past the gate, so SIMPLER's 4 x 24 layouts, seed 0, then seeds 1 2 (as run at 5cdf79f)
simpler scratch_100 4 scratch_100_x4 0
simpler scratch_100 4 scratch_100_x4 1 2
bash results/learning/gather.sh scratch_100 scratch_100_x4
mkdir -p results/learning/scratch_100_x4/eval_s12 && cp runs/learning/eval/scratch_100_x4_s12/*.json* results/learning/scratch_100_x4/eval_s12/
$B report runs/learning/eval/scratch_100_x4 runs/learning/eval/scratch_100_x4_s12 --out results/learning/scratch_100_x4/seeds012 \
    --metric success_once
# the same setting on the fourth round's weaker checkpoint (25/task, 5000 steps)
layouts scratchqr_25 demos25 4 train_layouts_execute4.json
simpler scratchqr_25 4 scratchqr_25_x4 0
bash results/learning/gather.sh scratchqr_25_x4
# executing 2 of each chunk of 4, training layouts only, both checkpoints (run side by side)
layouts scratch_100 demos 2 train_layouts_execute2.json &
layouts scratchqr_25 demos25 2 train_layouts_execute2.json &
wait
for f in scratch_100/train_layouts_execute4.json scratch_100/train_layouts_execute2.json \
         scratchqr_25/train_layouts_execute4.json scratchqr_25/train_layouts_execute2.json; do
  cp runs/learning/$f results/learning/$f
done
