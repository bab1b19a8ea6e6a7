#!/usr/bin/env bash
# Copy the small, reviewable artifacts of training runs (no weights) from runs/learning/NAME into
# results/learning/NAME: config, learning check, held-out curve, training log, trainer state, twin's check,
# training-layout check, and, when evaluated, the report of runs/learning/eval/NAME.
#   bash results/learning/gather.sh bc_100 scratchconv_25 ...
set -euo pipefail
cd "$(dirname "$0")/../.."
for name in "$@"; do
  src=runs/learning/$name dst=results/learning/$name
  mkdir -p "$dst"
  for f in config.json eval.json val_log.jsonl log.csv train_layouts.json; do
    [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"
  done
  # an unfinished run (stopped by hand) has its config in last/
  [ -f "$src/config.json" ] || { [ -f "$src/last/config.json" ] && cp "$src/last/config.json" "$dst/config.json"; }
  [ -f "$src/last/trainer_state.json" ] && cp "$src/last/trainer_state.json" "$dst/trainer_state.json"
  [ -f "$src/blind_twin/eval.json" ] && cp "$src/blind_twin/eval.json" "$dst/blind_twin_eval.json"
  [ -f "$src/blind_twin/val_log.jsonl" ] && cp "$src/blind_twin/val_log.jsonl" "$dst/blind_twin_val_log.jsonl"
  if ls runs/learning/eval/"$name"/records*.jsonl >/dev/null 2>&1; then
    .venv/bin/lapa-bench report runs/learning/eval/"$name" --out "$dst" --metric success_once > /dev/null
    mkdir -p "$dst/eval" && cp runs/learning/eval/"$name"/*.json* "$dst/eval/"
  fi
  echo "[gather] $dst: $(ls "$dst" | tr '\n' ' ')"
done
