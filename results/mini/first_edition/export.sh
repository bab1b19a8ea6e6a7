#!/usr/bin/env bash
# Copies the mini run's report and provenance from runs/mini (the pipeline's output) into results/mini.
# Run from the repo root after `lapa-bench pipeline configs/mini.yaml` has finished.
set -euo pipefail
src=${1:-runs/mini}
dst=results/mini
mkdir -p "$dst/eval"
cp "$src"/report/* "$dst/"
cp "$src/config.json" "$dst/config.json"
cp "$src/pipeline.json" "$dst/pipeline.json"
for d in "$src"/eval/*/; do
  name=$(basename "$d")
  mkdir -p "$dst/eval/$name"
  cp "$d"/manifest.json "$dst/eval/$name/"
  cat "$d"/records*.jsonl > "$dst/eval/$name/records.jsonl"
done
for ck in "$src"/*/eval.json; do  # the training stages' own held-out figures
  name=$(basename "$(dirname "$ck")")
  mkdir -p "$dst/train"
  cp "$ck" "$dst/train/$name.eval.json"
done
echo "exported $src -> $dst"
