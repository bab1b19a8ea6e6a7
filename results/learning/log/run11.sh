#!/usr/bin/env bash
# The eleventh round of results/learning (README): the VLA `scratch` at 100 demonstrations per task with
# configs/learning.yaml's recipe (commanded state, short sequence, last weights), the tenth round's "next, exactly":
# one model for both closed-loop bars of "Policies that learn". Training alone on the 2 cores with 2 threads;
# checks one thread per process. Each step's time and revision go to the log (results/learning/log/run11_logs/).
#   nohup bash results/learning/log/run11.sh > runs/learning/run11.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, rollouts, simpler
stamp() { echo "[run11] $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lapa_bench policies || echo -dirty) $*"; }
# data (a fresh checkout: collected again, the fifth round's command; the same seed gives the same episodes)
stamp collect
OMP_NUM_THREADS=1 $B collect --tasks all --episodes 100 --out data/learning/demos --image-size 128x128 --workers 2 \
    --seed 0 --no-progress
# 1. scratchcmd_100: scratchcmd_25's / scratchcmd_10's run (keep last, as configs/learning.yaml) on all 100 per task
stamp train scratchcmd_100
[ -f runs/learning/scratchcmd_100/eval.json ] || \
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos --out runs/learning/scratchcmd_100 --model.preset small \
    --model.pool_prompt true --model.query_tokens per_step --model.command_state true \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep last \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# 2. training layouts (first 10 per task) executing 2 and 4 (the settings that won at 25 and 100 per task)
stamp checks
rollouts scratch runs/learning/scratchcmd_100 demos 2 4
# 3. SIMPLER 4 x 24 x 3 seeds with the better of the two on the training layouts (ties: 4, the 100/task winner)
n() { .venv/bin/python -c "import json,sys; print(sum(r['success_once'] for r in json.load(open(sys.argv[1]))['episodes'] if r['held_out'] is not True))" "$1"; }
x2=$(n runs/learning/scratchcmd_100/train_layouts_execute2.json); x4=$(n runs/learning/scratchcmd_100/train_layouts_execute4.json)
x=4; [ "$x2" -gt "$x4" ] && x=2
stamp "SIMPLER executing $x (training layouts: execute 2 $x2, execute 4 $x4)"
for s in 1/2 2/2; do
  OMP_NUM_THREADS=1 $B eval --policy scratch --checkpoint runs/learning/scratchcmd_100 --policy.execute $x --tasks all \
      --episodes 24 --seeds 0 1 2 --label scratchcmd_100_x$x --out runs/learning/eval/scratchcmd_100_x$x --no-progress \
      --shard $s &
done; wait
stamp gather
bash results/learning/gather.sh scratchcmd_100 scratchcmd_100_x$x
cp runs/learning/scratchcmd_100/train_layouts_execute*.json results/learning/scratchcmd_100/
stamp done
