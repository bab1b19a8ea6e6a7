#!/usr/bin/env bash
# The seventh round of results/learning (README): scratch at 25 DART demonstrations per task with the 100/task
# recipe, then bc at 10 demonstrations per task with and without random shifts. Order as run (2026-12-01, at
# 0fd5dee; runs/learning/train7_dart.sh and after7.sh ran these in the background). Training alone on the 2 cores
# (one 2-thread training, or two 1-thread ones); evaluation one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
layouts() {  # layouts POLICY RUN DATA FILE FLAGS...: the training-layout check (first 10 per task)
  local policy=$1 run=$2 data=$3 file=$4; shift 4
  OMP_NUM_THREADS=1 $B data replay-check data/learning/$data --policy $policy --checkpoint runs/learning/$run \
      --max-episodes 10 --out runs/learning/$run/$file --workers 2 "$@"
}
simpler() {  # simpler POLICY RUN LABEL FLAGS...: SIMPLER's 4 x 24 layouts, seed 0, in 2 shards
  local policy=$1 run=$2 label=$3; shift 3
  for s in 1/2 2/2; do
    OMP_NUM_THREADS=1 $B eval --policy $policy --checkpoint runs/learning/$run "$@" --tasks all --episodes 24 \
        --seeds 0 --label $label --out runs/learning/eval/$label --no-progress --shard $s &
  done
  wait
}
# 0. the data (sixth round; data/ is not committed): DART recovery demonstrations at 25/task, and the first 10 of
#    the 100/task collection
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --dart 0.005 --out data/learning/demos_dart --image-size 128x128 \
    --workers 2 --seed 0
$B data subset data/learning/demos data/learning/demos10 --episodes 10
# 1. scratch_dart25: the 100/task recipe on the DART demonstrations (2 threads, alone)
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos_dart --out runs/learning/scratch_dart25 --model.preset small \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
layouts scratch scratch_dart25 demos_dart train_layouts.json --policy.execute 1
layouts scratch scratch_dart25 demos_dart train_layouts_execute2.json --policy.execute 2
layouts scratch scratch_dart25 demos_dart train_layouts_execute4.json --policy.execute 4
simpler scratch scratch_dart25 scratch_dart25_x4 --policy.execute 4     # the best of the three, past the gate of 8
bash results/learning/gather.sh scratch_dart25 scratch_dart25_x4
cp runs/learning/scratch_dart25/train_layouts_execute*.json results/learning/scratch_dart25/
# 2. bc at 10/task (bc_25w16's recipe) and the same without random shifts: two 1-thread trainings side by side
for run in bc_10w16 bc_10w16ns; do
  flags=(); [ $run = bc_10w16ns ] && flags=(--model.random_shift 0)
  OMP_NUM_THREADS=1 $B bc train --data data/learning/demos10 --out runs/learning/$run --model.width 16 "${flags[@]}" \
      --train.steps 12000 --train.eval_every 2000 --train.keep best --train.save_every 1000 --blind_twin_fraction 0.15 \
      --train.progress false &
done
wait
# 3. (runs/learning/after7b.sh) their training-layout checks side by side, one worker each, then SIMPLER seed 0
#    of both side by side (one process each, no shards), each past the gate of 8
for run in bc_10w16 bc_10w16ns; do
  OMP_NUM_THREADS=1 $B data replay-check data/learning/demos10 --policy bc --checkpoint runs/learning/$run \
      --max-episodes 10 --out runs/learning/$run/train_layouts.json --workers 1 &
done
wait
for run in bc_10w16 bc_10w16ns; do
  OMP_NUM_THREADS=1 $B eval --policy bc --checkpoint runs/learning/$run --tasks all --episodes 24 --seeds 0 \
      --label $run --out runs/learning/eval/$run --no-progress &
done
wait
bash results/learning/gather.sh bc_10w16 bc_10w16ns
.venv/bin/python results/learning/table.py > results/learning/table.md
# 4. at the end, for the next run (not trained on yet): DART at 1.5 mm (the learner's error scale), one worker
#    beside the bc evaluation
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --dart 0.0015 --out data/learning/demos_dart15 --image-size 128x128 \
    --workers 1 --seed 0
