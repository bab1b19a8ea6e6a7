#!/usr/bin/env bash
# The ninth round of results/learning (README): why policies fail on their own training layouts
# (results/learning/diagnose.py), and the commanded state (model.command_state, new this round) for bc at 10/task
# and scratch at 25/task. Order as run (2026-12-01; runs/learning/train9_bc.sh and after9.sh ran these in the
# background). Training alone on the 2 cores with 2 threads; checks one thread per process.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
B=.venv/bin/lapa-bench
source results/learning/checks.sh  # layouts, simpler, bc10
# 1. at 2f8951c: the controller's target offset alone (the option was named target_offset then; 3 inputs), 15 min
bc10 bc_10tgt --model.target_offset true
layouts bc runs/learning/bc_10tgt demos10 runs/learning/bc_10tgt/train_layouts.json
layouts bc runs/learning/bc_10tgt/last demos10 runs/learning/bc_10tgt/train_layouts_last.json
# 2. where closed loop leaves the demonstrations (at 2f8951c): bc_10tgt's last weights on every training layout,
#    scratchshort_25 executing 4 on carrot and stack
OMP_NUM_THREADS=1 .venv/bin/python results/learning/diagnose.py data/learning/demos10 --policy bc \
    --checkpoint runs/learning/bc_10tgt/last --out results/learning/diagnose/bc_10tgt_last.json
OMP_NUM_THREADS=2 .venv/bin/python results/learning/diagnose.py data/learning/demos25 --policy scratch \
    --checkpoint runs/learning/scratchshort_25 --tasks carrot,stack --policy.execute 4 \
    --out results/learning/diagnose/scratchshort_25_x4_carrot_stack.json
# 3. at 457327d: the commanded state (target offset + last gripper command + its age; 5 inputs), 16 min
bc10 bc_10cmd --model.command_state true
layouts bc runs/learning/bc_10cmd demos10 runs/learning/bc_10cmd/train_layouts.json
layouts bc runs/learning/bc_10cmd/last demos10 runs/learning/bc_10cmd/train_layouts_last.json
bash results/learning/gather.sh bc_10tgt bc_10cmd
cp runs/learning/bc_10tgt/train_layouts_last.json results/learning/bc_10tgt/
cp runs/learning/bc_10cmd/train_layouts_last.json results/learning/bc_10cmd/
# 4. at 457327d: scratchcmd_25, scratchshort_25's run with the commanded state (2 threads, alone), checks executing
#    4, 2 and 1, SIMPLER seed 0 with the best of them (past the gate of 8)
OMP_NUM_THREADS=2 $B scratch train --data data/learning/demos25 --out runs/learning/scratchcmd_25 --model.preset small \
    --model.pool_prompt true --model.query_tokens per_step --model.command_state true \
    --finetune.steps 15000 --finetune.warmup_steps 100 --finetune.eval_every 1500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
rollouts scratch runs/learning/scratchcmd_25 demos25 4 2 1
simpler scratch runs/learning/scratchcmd_25 scratchcmd_25_x2 --policy.execute 2
bash results/learning/gather.sh scratchcmd_25 scratchcmd_25_x2
cp runs/learning/scratchcmd_25/train_layouts_execute*.json results/learning/scratchcmd_25/
# 5. at dcb7465's code (457327d): bc_10cmd's last weights on SIMPLER (past the gate)
simpler bc runs/learning/bc_10cmd/last bc_10cmd_last
bash results/learning/gather.sh bc_10cmd_last
.venv/bin/python results/learning/table.py > results/learning/table.md
