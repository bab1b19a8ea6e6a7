#!/usr/bin/env bash
# The twelfth round, second part (README): run12.sh's training-layout check executing 2 left stack at 5/9 (33/37 in
# all), so the same checkpoint was checked executing 4 (the 10/task winner; command below, run by hand at 16:48 UTC
# while run12.sh's SIMPLER executing 2 ran): 35/37, every task >= 8/9. run12.sh was then stopped (its SIMPLER executing
# 2 at 127 of 288 episodes, kept in runs/learning/eval/scratchcmd_25s25k_x2, resumable) and SIMPLER 4 x 24 x 3 run
# executing 4 here. Log: results/learning/log/run12_logs/.
#   nohup bash results/learning/log/run12b.sh > runs/learning/run12b.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, rollouts, simpler
stamp() { echo "[run12b] $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lapa_bench policies || echo -dirty) $*"; }
# 2b. (run by hand, before this script) the training layouts executing 4
[ -f runs/learning/scratchcmd_25s25k/train_layouts_execute4.json ] || rollouts scratch runs/learning/scratchcmd_25s25k demos25 4
# 3b. SIMPLER 4 x 24 x 3 seeds executing 4
stamp "SIMPLER executing 4"
SEEDS="0 1 2" simpler scratch runs/learning/scratchcmd_25s25k scratchcmd_25s25k_x4 --policy.execute 4
stamp gather
bash results/learning/gather.sh scratchcmd_25s25k scratchcmd_25s25k_x4
cp runs/learning/scratchcmd_25s25k/train_layouts_execute*.json results/learning/scratchcmd_25s25k/
stamp done
