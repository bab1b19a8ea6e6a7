#!/usr/bin/env bash
# Sixth round: scratch_100 executing 2 of each chunk of 4 on SIMPLER's 4 x 24 layouts, seed 0 (2 shards).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}" OMP_NUM_THREADS=1
B=.venv/bin/lapa-bench
git rev-parse HEAD
for s in 1/2 2/2; do
  $B eval --policy scratch --checkpoint runs/learning/scratch_100 --policy.execute 2 --tasks all --episodes 24 \
      --seeds 0 --label scratch_100_x2 --out runs/learning/eval/scratch_100_x2 --no-progress --shard $s &
done
wait
$B report runs/learning/eval/scratch_100_x2 --out runs/learning/eval/scratch_100_x2/report --metric success_once | tail -12
echo EVAL_DONE
