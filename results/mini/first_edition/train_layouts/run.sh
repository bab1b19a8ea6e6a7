#!/usr/bin/env bash
# Training-layout check of the mini checkpoints (results/mini/README.md): each policy closed loop from the
# 40 recorded layouts of its own labelled demonstrations, then the recorded actions open loop from the same
# layouts (the reference). Ran from the repo root with MS_ASSET_DIR=../shared/simpler-assets, 2026-11-23,
# at revisions 9af99a7 (lapa_bridge) and 25e1362 (the others; that commit only gives each worker one torch
# thread); run as `bash results/mini/train_layouts/run.sh > runs/mini/train_layouts/log.txt 2>&1`, then the
# copy step at the end (done by hand then) brought the JSONs and the log without progress bars here.
set -u
for spec in lapa:lapa_bridge lapa:lapa_panda scratch:scratch vpt:vpt unipi:unipi; do
  pol=${spec%%:*}; ck=${spec#*:}
  echo "=== $ck $(date -u +%T)"
  /usr/bin/time -f "wall %e s" .venv/bin/lapa-bench data replay-check runs/mini/data/demos --workers 2 \
    --policy $pol --checkpoint runs/mini/$ck --out runs/mini/train_layouts/$ck.json
done
echo "=== recorded actions $(date -u +%T)"
/usr/bin/time -f "wall %e s" .venv/bin/lapa-bench data replay-check runs/mini/data/demos --workers 2 \
  --out runs/mini/train_layouts/recorded_actions.json

# copy step
cp runs/mini/train_layouts/*.json results/mini/train_layouts/
tr '\r' '\n' < runs/mini/train_layouts/log.txt | grep -a "^===\|\[replay-check\]\|^wall" > results/mini/train_layouts/run.log
