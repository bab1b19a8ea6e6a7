#!/usr/bin/env bash
# Reproduces results/data/: 50 scripted demonstrations per SIMPLER Bridge task (200 in all),
# the open-loop replay check of every one of them, and the dataset summary + contact sheet.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${MS_ASSET_DIR:-}" ] && [ -d ../shared/simpler-assets ]; then
  export MS_ASSET_DIR="$(cd ../shared/simpler-assets && pwd)"
fi
LB=.venv/bin/lapa-bench
/usr/bin/time -f "collect wall seconds: %e" $LB collect --tasks all --episodes 50 --out data/bridge_demos --workers 2
/usr/bin/time -f "replay-check wall seconds: %e" $LB data replay-check data/bridge_demos --workers 2 --out results/data/replay.json
$LB data info data/bridge_demos --sheet results/data/contact_sheet.png | tee results/data/info.txt
cp data/bridge_demos/collection.json results/data/collection.json
