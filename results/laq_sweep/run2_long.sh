#!/usr/bin/env bash
# README "Three times the steps" (second_long/): two action-transformer combinations of run2.sh trained on from their
# 1500-step checkpoints to 4500 x 32, in a folder of their own (run2.sh's folder keeps its 1500-step LAQs). Run after
# run2.sh. What ran on 2026-12-04, in this order (logs/laq_sweep2_long*.log): the 64 px one alone with one thread, then
# both in one sweep with two threads (the 128 px one stopped once at step 1800 and resumed from step 1750).
#   nohup bash results/laq_sweep/run2_long.sh > runs/laq_sweep2_long.log 2>&1 &      (resumable)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=laq_sweep2_long
source results/learning/checks.sh  # stamp
out=runs/laq_sweep2_long
a='{"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4, "action_depth": 2}'
b='{"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4, "image_size": 128, "patch_size": 16, "action_depth": 2}'
mkdir -p $out
for n in code_seq_len1-codebook_size16-frame_gap4-action_depth2 \
         code_seq_len1-codebook_size16-frame_gap4-image_size128-patch_size16-action_depth2; do
  [ -d $out/$n ] || { cp -r runs/laq_sweep2/$n $out/ && rm -f $out/$n/codes.npz $out/$n/probe.json; }
done
stamp sweep
OMP_NUM_THREADS=2 .venv/bin/lapa-bench laq sweep --videos data/learning/demos --data data/learning/demos --out $out \
    --grid "[$a, $b]" --train.steps 4500 --train.batch_size 32 --train.progress false
dst=results/laq_sweep/second_long
mkdir -p $dst
cp $out/sweep.json $out/sweep.md $out/sweep.png $dst/
for d in $out/*/; do
  n=$(basename "$d"); mkdir -p $dst/$n
  cp "$d"/eval.json "$d"/probe.json "$d"/log.csv "$d"/config.json $dst/$n/
done
stamp done
