#!/usr/bin/env bash
# train.compile keeps the held-out error: the comparison's 64 px scratch recipe, 3000 steps of 32 on 25 oracle
# demonstrations per task, eager and compiled, two training seeds each, one thread per run, one run at a time.
# Reads results/mini/data/demos (lapa-bench pipeline configs/mini.yaml --cells scratch/n25/s0 --until data).
#   bash results/benchmarks/compile_heldout/run.sh > results/benchmarks/compile_heldout/run.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=.venv/bin/lapa-bench
OUT=runs/compile_heldout
for seed in 0 1; do
  for compile in false true; do
    echo "[compile_heldout] $(date -u +%FT%TZ) $(git rev-parse --short HEAD) seed $seed compile $compile"
    LAPA_BENCH_THREADS=1 $B scratch train --data results/mini/data/demos --out $OUT/s${seed}_compile_${compile} \
      --model.preset small --model.image_size 64 --model.random_shift 4 --model.execute 4 --model.pool_prompt true \
      --model.query_tokens per_step --model.command_state true --finetune.steps 3000 --finetune.warmup_steps 100 \
      --finetune.seed $seed --finetune.compile $compile --finetune.progress false --blind_twin_fraction 0
  done
done
.venv/bin/python - <<'PY'
import json, csv
from pathlib import Path
rows = []
for seed in (0, 1):
    for c in ("false", "true"):
        d = Path(f"runs/compile_heldout/s{seed}_compile_{c}")
        ev = json.loads((d / "eval.json").read_text())
        log = list(csv.DictReader(open(d / "log.csv")))
        sps = sum(float(r["samples_per_s"]) for r in log[4:]) / max(1, len(log[4:]))
        rows.append((seed, c, ev["action_error"], ev["train"]["seconds_this_session"], sps))
print("| seed | compile | held-out action error | train seconds | samples/s (after warm-up) |")
print("|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.0f} | {r[4]:.1f} |")
e = {(s, c): a for s, c, a, _, _ in rows}
t = {(s, c): x for s, c, _, x, _ in rows}
print(f"\nseed spread (eager): {abs(e[0, 'false'] - e[1, 'false']):.4f}; compile minus eager: "
      f"seed 0 {e[0, 'true'] - e[0, 'false']:+.4f}, seed 1 {e[1, 'true'] - e[1, 'false']:+.4f}")
print(f"time eager / compiled: seed 0 {t[0, 'false'] / t[0, 'true']:.2f}x, seed 1 {t[1, 'false'] / t[1, 'true']:.2f}x")
PY
