#!/usr/bin/env bash
# The thirteenth round of results/learning (README): scratch64_25s25k, scratchcmd_25s25k's command (configs/learning.yaml's
# scratch recipe at 25 demonstrations per task, 25000 steps) with the model at 64 px (--model.image_size 64
# --model.random_shift 4: the 128 px frames resized, the conv stem's 4 stride-2 convs give 4 x 4 image tokens): the
# cheaper step the mini benchmark's second edition needs to fit its budget. Declared before the run: executing 4, the
# reference's setting, for both closed-loop checks (no selection). Then, in the same chain so the 2 cores never idle,
# results/laq_sweep/run.sh (tops the collection up to 100/task, then the LAQ frame-gap sweep).
# Training alone on the 2 cores with 2 threads; checks one thread per process. Log: results/learning/log/run13_logs/.
#   nohup bash results/learning/log/run13.sh > runs/learning/run13.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, rollouts, simpler
stamp() { echo "[run13] $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lapa_bench policies || echo -dirty) $*"; }
mkdir -p runs/learning
# data (a fresh checkout: run10.sh's command; the same seed gives the same first 25 episodes per task)
stamp collect
[ -f data/learning/demos25/meta/info.json ] || {
  OMP_NUM_THREADS=1 $B collect --tasks all --episodes 25 --out data/learning/demos --image-size 128x128 --workers 2 \
      --seed 0 --no-progress
  $B data subset data/learning/demos data/learning/demos25 --episodes 25
}
# 1. scratch64_25s25k: scratchcmd_25s25k's command at 64 px
stamp train scratch64_25s25k
[ -f runs/learning/scratch64_25s25k/eval.json ] || \
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos25 --out runs/learning/scratch64_25s25k --model.preset small \
    --model.image_size 64 --model.random_shift 4 \
    --model.pool_prompt true --model.query_tokens per_step --model.command_state true \
    --finetune.steps 25000 --finetune.warmup_steps 100 --finetune.eval_every 2500 --finetune.keep last \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# 2. training layouts (first 10 per task) executing 4
stamp checks
[ -f runs/learning/scratch64_25s25k/train_layouts_execute4.json ] || rollouts scratch runs/learning/scratch64_25s25k demos25 4
# 3. SIMPLER 4 x 24 x 3 seeds executing 4
stamp SIMPLER
SEEDS="0 1 2" simpler scratch runs/learning/scratch64_25s25k scratch64_25s25k_x4 --policy.execute 4
stamp gather
bash results/learning/gather.sh scratch64_25s25k scratch64_25s25k_x4
cp runs/learning/scratch64_25s25k/train_layouts_execute*.json results/learning/scratch64_25s25k/
stamp "LAQ sweep"
bash results/laq_sweep/run.sh
stamp done
