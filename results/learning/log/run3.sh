#!/usr/bin/env bash
# The third round of results/learning (README): bc at width 16 with the step budgets that make it manipulate.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}" OMP_NUM_THREADS=1
B=.venv/bin/lapa-bench
$B data subset data/learning/demos data/learning/demos25 --episodes 25
$B bc train --data data/learning/demos --out runs/learning/bc_100w16 --model.width 16 --train.steps 20000 \
    --train.eval_every 2000 --train.keep best --train.save_every 1000 --blind_twin_fraction 0.15 --train.progress false
$B bc train --data data/learning/demos25 --out runs/learning/bc_25w16 --model.width 16 --train.steps 12000 \
    --train.eval_every 2000 --train.keep best --train.save_every 1000 --blind_twin_fraction 0.15 --train.progress false
for P in bc_100w16:data/learning/demos bc_25w16:data/learning/demos25; do
  run=${P%%:*} data=${P#*:}
  $B data replay-check "$data" --policy bc --checkpoint runs/learning/$run --max-episodes 10 \
      --out runs/learning/$run/train_layouts.json --workers 2
  for s in 1/2 2/2; do
    $B eval --policy bc --checkpoint runs/learning/$run --tasks all --episodes 24 --seeds 0 --label $run \
        --out runs/learning/eval/$run --no-progress --shard $s &
  done
  wait
done
bash results/learning/gather.sh bc_100w16 bc_25w16
