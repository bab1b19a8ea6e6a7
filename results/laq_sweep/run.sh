#!/usr/bin/env bash
# The LAQ settings sweep of the mini benchmark's second edition : the tiny LAQ (64 px) trained on action-free Bridge-task videos at several
# frame gaps H, each probed against the true actions (held-out episodes) and measured for codebook usage.
# Videos: the 400 oracle episodes of results/learning's collection (100 per task, 128 px, layouts disjoint from
# evaluation; the LAQ never sees their actions); the probe splits the same episodes 80/20 and scores held-out ones.
#   nohup bash results/laq_sweep/run.sh > runs/laq_sweep.log 2>&1 &      (resumable: cached per combination)
set -euo pipefail
cd "$(dirname "$0")/../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
# the collection is resumable: a folder with fewer episodes (e.g. results/learning's 25/task) is topped up to 100
# per task with the same seed, so the first episodes stay the same
.venv/bin/lapa-bench collect --tasks all --episodes 100 --out data/learning/demos --image-size 128x128 --workers 2 \
    --seed 0 --no-progress
echo "[laq_sweep] $(date -u +%FT%TZ) $(git rev-parse --short HEAD) sweep"
OMP_NUM_THREADS=2 .venv/bin/lapa-bench laq sweep --videos data/learning/demos --data data/learning/demos \
    --out runs/laq_sweep --grid "${GRID:-{\"frame_gap\": [1, 2, 4]\}}" --train.steps "${STEPS:-1500}" \
    --train.batch_size 32 --train.progress false
cp runs/laq_sweep/sweep.json runs/laq_sweep/sweep.md runs/laq_sweep/sweep.png results/laq_sweep/
for d in runs/laq_sweep/*/; do
  n=$(basename "$d"); mkdir -p results/laq_sweep/$n
  cp "$d"/eval.json "$d"/probe.json "$d"/log.csv "$d"/config.json results/laq_sweep/$n/ 2>/dev/null || true
done
echo "[laq_sweep] $(date -u +%FT%TZ) done"
