#!/usr/bin/env bash
# The fourteenth round of results/learning (README): does LAPA's latent pretraining help the recipe that learns?
# lapa64_25s25k = scratch64_25s25k (thirteenth round: configs/learning.yaml's scratch recipe at 64 px, 25 demos per
# task, 25000 finetuning steps, executing 4) finetuned from a latent-pretrained model instead of from scratch:
#   stage 1: the LAQ the second LAQ sweep chose (results/laq_sweep/run2.sh: the best passing combination, named in
#            runs/laq_sweep2/sweep.json; chosen before this run by the sweep's rule, no other selection);
#   stage 2: latent pretraining, 10000 x 32, on the action-free frames of the 400 oracle episodes (100 per task: the
#            25/task labelled set's episodes are among them, their actions unseen by stages 1-2);
#   stage 3: scratch64_25s25k's finetuning command with --init.
# Declared before the run: executing 4 for both closed-loop checks, SIMPLER at seed 0 (96 layouts; the greedy
# policy's seeds are near-replicates), compared with scratch64_25s25k's seed-0 records.
#   nohup bash results/learning/log/run14.sh > runs/learning/run14.log 2>&1 &      (resumable)
# Not run yet (2026-12-04): no combination of the LAQ sweeps passes its bar (results/laq_sweep/README.md), and this
# script stops when none does.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUN=run14
source results/learning/checks.sh  # B, MS_ASSET_DIR, stamp, layouts, rollouts, simpler
mkdir -p runs/learning
[ -f data/learning/demos25/meta/info.json ] || $B data subset data/learning/demos data/learning/demos25 --episodes 25
best=$(.venv/bin/python -c "import json; print(json.load(open('runs/laq_sweep2/sweep.json'))['best'] or '')")
[ -n "$best" ] || { echo "[run14] the LAQ sweep has no passing combination: nothing to pretrain on"; exit 1; }
LAQ=runs/laq_sweep2/$best
VLA="--model.preset small --model.image_size 64 --model.random_shift 4 --model.pool_prompt true
     --model.query_tokens per_step --model.command_state true"
stamp "pretrain on $LAQ"
[ -f runs/learning/lapa64_pre/eval.json ] || \
OMP_NUM_THREADS=2 $B lapa pretrain --videos data/learning/demos --laq $LAQ --out runs/learning/lapa64_pre $VLA \
    --pretrain.steps 10000 --pretrain.warmup_steps 100 --pretrain.eval_every 2500 --pretrain.keep last \
    --pretrain.save_every 500 --pretrain.progress false
stamp finetune
[ -f runs/learning/lapa64_25s25k/eval.json ] || \
OMP_NUM_THREADS=2 $B lapa finetune --data data/learning/demos25 --init runs/learning/lapa64_pre \
    --out runs/learning/lapa64_25s25k $VLA \
    --finetune.steps 25000 --finetune.warmup_steps 100 --finetune.eval_every 2500 --finetune.keep last \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
stamp checks
[ -f runs/learning/lapa64_25s25k/train_layouts_execute4.json ] || rollouts lapa runs/learning/lapa64_25s25k demos25 4
stamp SIMPLER
simpler lapa runs/learning/lapa64_25s25k lapa64_25s25k_x4 --policy.execute 4
stamp gather
bash results/learning/gather.sh lapa64_25s25k lapa64_25s25k_x4
cp runs/learning/lapa64_25s25k/train_layouts_execute*.json results/learning/lapa64_25s25k/
mkdir -p results/learning/lapa64_pre
cp runs/learning/lapa64_pre/eval.json runs/learning/lapa64_pre/log.csv results/learning/lapa64_pre/ 2>/dev/null || true
cp runs/learning/lapa64_pre/last/trainer_state.json results/learning/lapa64_pre/ 2>/dev/null || true
stamp done
