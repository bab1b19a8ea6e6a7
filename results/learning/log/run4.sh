#!/usr/bin/env bash
# The fourth round of results/learning (README): the VLA `scratch` with the query readout, at 25 demos/task.
# Order as run (2026-12-01, one torch thread per process, two at a time on the 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}" OMP_NUM_THREADS=1
B=.venv/bin/lapa-bench
# data: the same 25 per task as the earlier rounds (the collection's first 25 attempts-in-order per task)
$B collect --tasks all --episodes 25 --out data/learning/demos --image-size 128x128 --workers 2 --seed 0
$B data subset data/learning/demos data/learning/demos25 --episodes 25
V5='{"model_type": "conv", "width": 16, "depth": 5}'   # 4 x 4 tokens; preset small has depth 4 (8 x 8)
# scratchqr_25: preset small (8 x 8 tokens + query readout; as run: plain --model.preset small at e764a78), 5000 steps
$B scratch train --data data/learning/demos25 --out runs/learning/scratchqr_25 --model.preset small \
    --model.vision '{"model_type": "conv", "width": 16, "depth": 4}' \
    --finetune.steps 5000 --finetune.warmup_steps 100 --finetune.eval_every 1000 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# ablation: no query readout (8 x 8 tokens), 2000 steps
$B scratch train --data data/learning/demos25 --out runs/learning/scratchnoqr_25 --model.preset small \
    --model.vision '{"model_type": "conv", "width": 16, "depth": 4}' --model.query_readout 0 \
    --finetune.steps 2000 --finetune.warmup_steps 100 --finetune.eval_every 500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# ablation: 4 x 4 tokens, 2000 steps, no twin
$B scratch train --data data/learning/demos25 --out runs/learning/scratchd5_25 --model.preset small --model.vision "$V5" \
    --finetune.steps 2000 --finetune.warmup_steps 100 --finetune.eval_every 500 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0 --finetune.progress false
# scratchd5long_25: 4 x 4 tokens + query readout, 7000 steps
$B scratch train --data data/learning/demos25 --out runs/learning/scratchd5long_25 --model.preset small --model.vision "$V5" \
    --finetune.steps 7000 --finetune.warmup_steps 100 --finetune.eval_every 1000 --finetune.keep best \
    --finetune.save_every 500 --blind_twin_fraction 0.1 --finetune.progress false
# the reference at the VLA's first budget: bc (width 16) at 5000 steps
$B bc train --data data/learning/demos25 --out runs/learning/bc_25w16s5k --model.width 16 --train.steps 5000 \
    --train.eval_every 1000 --train.keep best --train.save_every 1000 --blind_twin_fraction 0.1 --train.progress false
# checks: training layouts (first 10 per task) and SIMPLER's 4 x 24 layouts, seed 0 (as run: bc's eval in one process)
for P in scratch:scratchqr_25 scratch:scratchd5long_25 bc:bc_25w16s5k; do
  pol=${P%%:*} run=${P#*:}
  $B data replay-check data/learning/demos25 --policy $pol --checkpoint runs/learning/$run --max-episodes 10 \
      --out runs/learning/$run/train_layouts.json --workers 2
  for s in 1/2 2/2; do
    $B eval --policy $pol --checkpoint runs/learning/$run --tasks all --episodes 24 --seeds 0 --label $run \
        --out runs/learning/eval/$run --no-progress --shard $s &
  done
  wait
done
bash results/learning/gather.sh scratchqr_25 scratchnoqr_25 scratchd5_25 scratchd5long_25 bc_25w16s5k
for r in scratchqr_25 scratchd5long_25 bc_25w16s5k; do   # which of the 40 layouts each run trained on
  .venv/bin/python results/learning/trained_layouts.py results/learning/$r/train_layouts.json data/learning/demos25
done
