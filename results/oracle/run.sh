#!/usr/bin/env bash
# Reproduces results/oracle/: the scripted oracle and the random policy, 24 episodes x 1 seed on
# each of the four SIMPLER WidowX tasks (2 shards in parallel on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${MS_ASSET_DIR:-}" ] && [ -d ../shared/simpler-assets ]; then
  export MS_ASSET_DIR="$(cd ../shared/simpler-assets && pwd)"
fi
LB=.venv/bin/lapa-bench
for policy in scripted random; do
  for shard in 1/2 2/2; do
    $LB eval --policy $policy --tasks all --episodes 24 --seeds 0 --out runs/oracle/$policy \
      --shard $shard --no-progress &
  done
  wait
done
$LB report runs/oracle/scripted runs/oracle/random --out results/oracle --metric success_once
cp runs/oracle/scripted/manifest.json results/oracle/manifest_scripted.json
cp runs/oracle/random/manifest.json results/oracle/manifest_random.json
cat runs/oracle/scripted/records*.jsonl runs/oracle/random/records*.jsonl > results/oracle/records.jsonl
