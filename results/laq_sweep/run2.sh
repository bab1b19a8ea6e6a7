#!/usr/bin/env bash
# The second LAQ sweep (README "Second sweep"): the first sweep's hold code came from the 4 quadrant tokens, so this
# one varies the token count (code_seq_len 1: one code for the whole frame pair), the codebook (16, 32 codes), the
# frame gap (2, 4) and the LAQ's input size (128 px with 16 px patches: the same 8 x 8 token grid, finer motion),
# as listed combinations. Same videos, probe data, LAQ (laq_tiny) and 1500 x 32 steps as run.sh.
#   nohup bash results/laq_sweep/run2.sh > runs/laq_sweep2.log 2>&1 &      (resumable: cached per combination)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=laq_sweep2
source results/learning/checks.sh  # MS_ASSET_DIR, stamp
stamp collect
.venv/bin/lapa-bench collect --tasks all --episodes 100 --out data/learning/demos --image-size 128x128 --workers 2 \
    --seed 0 --no-progress
# The first three combinations ran as declared; the last two of the declared grid (32 codes; 4 tokens x 16 codes,
# both without the action transformer; the second stopped while training) were dropped once the first three showed
# the continuous latent itself carries no lateral direction (README "Second sweep"), for the action transformer
# (LAQConfig.action_depth).
GRID='[{"code_seq_len": 1, "codebook_size": 16, "frame_gap": 2},
       {"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4},
       {"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4, "image_size": 128, "patch_size": 16},
       {"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4, "action_depth": 2},
       {"code_seq_len": 1, "codebook_size": 16, "frame_gap": 4, "image_size": 128, "patch_size": 16, "action_depth": 2},
       {"code_seq_len": 1, "codebook_size": 16, "frame_gap": 2, "action_depth": 2},
       {"code_seq_len": 4, "codebook_size": 16, "frame_gap": 4, "action_depth": 2}]'
stamp sweep
OMP_NUM_THREADS=2 .venv/bin/lapa-bench laq sweep --videos data/learning/demos --data data/learning/demos \
    --out runs/laq_sweep2 --grid "${GRID_OVERRIDE:-$GRID}" --train.steps "${STEPS:-1500}" \
    --train.batch_size 32 --train.progress false
dst=results/laq_sweep/second
mkdir -p $dst
cp runs/laq_sweep2/sweep.json runs/laq_sweep2/sweep.md runs/laq_sweep2/sweep.png $dst/
for d in runs/laq_sweep2/*/; do
  n=$(basename "$d"); mkdir -p $dst/$n
  cp "$d"/eval.json "$d"/probe.json "$d"/log.csv "$d"/config.json $dst/$n/ 2>/dev/null || true
done
stamp done
