#!/usr/bin/env bash
# The sixth round of results/learning (README): rollout settings of scratch_100 (temporal ensembling, executing 2
# on SIMPLER), and scratch at 25 demos/task with the 100/task recipe (15000 steps). Order as run (2026-12-01).
# Training alone on the 2 cores with 2 torch threads (a second process on the cores slows a 2-thread training
# 3-4x: its threads wait for each other); evaluation one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
layouts() {  # layouts RUN DATA FILE FLAGS...: the training-layout check (first 10 per task)
  local run=$1 data=$2 file=$3; shift 3
  OMP_NUM_THREADS=1 $B data replay-check data/learning/$data --policy scratch --checkpoint runs/learning/$run \
      --max-episodes 10 --out runs/learning/$run/$file --workers 2 "$@"
}
simpler() {  # simpler RUN LABEL FLAGS...: SIMPLER's 4 x 24 layouts, seed 0, in 2 shards
  local run=$1 label=$2; shift 2
  for s in 1/2 2/2; do
    OMP_NUM_THREADS=1 $B eval --policy scratch --checkpoint runs/learning/$run "$@" --tasks all --episodes 24 \
        --seeds 0 --label $label --out runs/learning/eval/$label --no-progress --shard $s &
  done
  wait
}
# 1. scratch_25: the 100/task recipe on the first 25 demonstrations per task (data/learning/demos25, fourth round)
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos25 --out runs/learning/scratch_25 --model.preset small \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false &
# 2. meanwhile (at db48a32, before its commit), scratch_100 with ACT's temporal ensembling on its training layouts
layouts scratch_100 demos train_layouts_ens.json --policy.ensemble 0.01
# 3. and executing 2 on SIMPLER (this one slowed the training 8x while it ran: not again)
simpler scratch_100 scratch_100_x2 --policy.execute 2
bash results/learning/gather.sh scratch_100_x2
cp runs/learning/scratch_100/train_layouts_ens.json results/learning/scratch_100/
wait
# 4. after the training (runs/learning/after6.sh, at 2f90c9a): renamed (results/learning/scratch_25 is the first
#    round's), the step-cost benchmark on the quiet CPU, the training-layout checks executing 1 2 4, and SIMPLER
#    seed 0 at the best of them (gate: >= 8 successes on the trained layouts)
mv runs/learning/scratch_25 runs/learning/scratch_25s15k
OMP_NUM_THREADS=2 .venv/bin/python benchmarks/vla_step_cost.py --steps 5 --batch-size 32   # results/benchmarks/vla_step_cost_cpu.txt
layouts scratch_25s15k demos25 train_layouts.json --policy.execute 1
layouts scratch_25s15k demos25 train_layouts_execute2.json --policy.execute 2
layouts scratch_25s15k demos25 train_layouts_execute4.json --policy.execute 4    # 17/37: the best, past the gate
simpler scratch_25s15k scratch_25s15k_x4 --policy.execute 4
bash results/learning/gather.sh scratch_25s15k scratch_25s15k_x4
cp runs/learning/scratch_25s15k/train_layouts_execute*.json results/learning/scratch_25s15k/
.venv/bin/python results/learning/table.py > results/learning/table.md
# 5. at the end (7c78578): DART recovery data at 25/task for the next run (data/ is not committed)
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --dart 0.005 --out data/learning/demos_dart --image-size 128x128 \
    --workers 2 --seed 0
