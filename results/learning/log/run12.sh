#!/usr/bin/env bash
# The twelfth round of results/learning (README): scratchcmd_25s25k, scratchcmd_25's run (configs/learning.yaml's
# scratch recipe: commanded state, short sequence, last weights) at 25 demonstrations per task with 25000 steps instead
# of 15000 (~117 epochs instead of ~70). The eleventh round found training-layout success falling with epochs per
# layout (33/36, 31/37, 20/37 at 10, 25, 100 per task, all 15000 steps); 25/task is the size where both bars are within
# reach in ~2.5 h of CPU (scratchcmd_25: 31/37 with stack 7/9 and eggplant 7/10, SIMPLER 39.6 % at seed 0).
# Training alone on the 2 cores with 2 threads; checks one thread per process. Log: results/learning/log/run12_logs/.
# As run: step 3 was stopped at 127 of 288 episodes once executing 4 had passed the training-layout bar (run12b.sh).
#   nohup bash results/learning/log/run12.sh > runs/learning/run12.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, rollouts, simpler
stamp() { echo "[run12] $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lapa_bench policies || echo -dirty) $*"; }
# data (a fresh checkout: run10.sh's command; the same seed gives the same first 25 episodes per task)
stamp collect
[ -f data/learning/demos25/meta/info.json ] || {
  OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --out data/learning/demos --image-size 128x128 --workers 2 \
      --seed 0 --no-progress
  $B data subset data/learning/demos data/learning/demos25 --episodes 25
}
# 1. scratchcmd_25s25k: scratchcmd_25's command with --finetune.steps 25000 and the last weights
stamp train scratchcmd_25s25k
[ -f runs/learning/scratchcmd_25s25k/eval.json ] || \
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos25 --out runs/learning/scratchcmd_25s25k --model.preset small \
    --model.pool_prompt true --model.query_tokens per_step --model.command_state true \
    --finetune.steps 25000 --finetune.warmup_steps 100 --finetune.eval_every 2500 --finetune.keep last \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# 2. training layouts (first 10 per task) executing 2 (scratchcmd_25's best and configs/learning.yaml's)
stamp checks
rollouts scratch runs/learning/scratchcmd_25s25k demos25 2
# 3. SIMPLER 4 x 24 x 3 seeds executing 2
stamp SIMPLER
SEEDS="0 1 2" simpler scratch runs/learning/scratchcmd_25s25k scratchcmd_25s25k_x2 --policy.execute 2
stamp gather
bash results/learning/gather.sh scratchcmd_25s25k scratchcmd_25s25k_x2
cp runs/learning/scratchcmd_25s25k/train_layouts_execute*.json results/learning/scratchcmd_25s25k/
stamp done
