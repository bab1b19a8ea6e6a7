#!/usr/bin/env bash
# LeRobot's ACT, trained with LeRobot's own code in .venv-lerobot on the 25 demonstrations per task of
# results/mini (the data `scratch/n25/s*` trained on), served from that venv, evaluated here on SIMPLER's
# 4 tasks x 24 layouts through `--policy remote`. Run from the repository root after `make install` and
# `make lerobot-venv`, with the demonstrations collected (`lapa-bench pipeline configs/mini.yaml --until data
# --cells scratch/n25/s0`).
set -euo pipefail
PY=.venv-lerobot/bin/python
D=results/mini/data/demos
export OMP_NUM_THREADS=1
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"  # as make does
# 1. one LeRobot dataset of the four tasks (LeRobot 0.3.3 trains on one), frames at 64 px
[ -d runs/lerobot/act_demos25 ] || $PY scripts/lerobot_policy.py merge $D/spoon $D/carrot $D/stack $D/eggplant \
    --out runs/lerobot/act_demos25 --image-size 64
# 2. ACT with LeRobot's training script (arguments in runs/lerobot/act_demos25_train/command.txt)
[ -f runs/lerobot/act_demos25_train/command.txt ] || $PY scripts/lerobot_policy.py train runs/lerobot/act_demos25 \
    --out runs/lerobot/act_demos25_train --steps 4000
# 3. serve it from LeRobot's venv, evaluate from the project's
$PY scripts/lerobot_policy.py serve runs/lerobot/act_demos25_train --port 8765 > runs/lerobot/serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER' EXIT
for _ in $(seq 60); do grep -q "serving" runs/lerobot/serve.log && break; sleep 2; done
.venv/bin/lapa-bench eval --policy remote --policy.url ws://127.0.0.1:8765 --tasks all --episodes 24 \
    --label "lerobot ACT (25/task)" --out results/lerobot_act/eval
# 4. its own training layouts, closed loop (the first 10 demonstrations per task)
[ -f results/lerobot_act/train_layouts.json ] || .venv/bin/lapa-bench data replay-check $D --max-episodes 10 \
    --workers 1 --policy remote --policy.url ws://127.0.0.1:8765 --out results/lerobot_act/train_layouts.json
# 5. beside scratch trained on the same demonstrations (results/mini's cells)
.venv/bin/lapa-bench report results/lerobot_act/eval results/mini/eval/scratch_25/task_seed_0 \
    results/mini/eval/scratch_25/task_seed_1 --metric success_once --compare-to "scratch (25/task)" \
    --out results/lerobot_act/report
