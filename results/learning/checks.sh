# Shell helpers of results/learning's run scripts from the eighth round on (sourced by run8.sh to run14.sh, and by
# results/laq_sweep/run2*.sh):
# bc_10w16's training recipe, the training-layout check and SIMPLER's evaluation layouts at seed 0. Sets B (the
# lapa-bench executable) and MS_ASSET_DIR when unset; `stamp` logs a step with the time and revision (RUN names it).
B=${B:-.venv/bin/lapa-bench}
export MS_ASSET_DIR="${MS_ASSET_DIR:-$(cd ../shared/simpler-assets && pwd)}"
stamp() { echo "[${RUN:-run}] $(date -u +%FT%TZ) $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lapa_bench policies || echo -dirty) $*"; }
layouts() {  # layouts POLICY CHECKPOINT DATA OUT FLAGS...: the training-layout check (first 10 per task)
  local policy=$1 ckpt=$2 data=$3 out=$4; shift 4
  OMP_NUM_THREADS=1 $B data replay-check data/learning/$data --policy $policy --checkpoint $ckpt \
      --max-episodes 10 --out $out --workers 2 "$@"
}
rollouts() {  # rollouts POLICY RUN DATA X...: the training-layout check of RUN executing X of each chunk, per X, into
  # RUN/train_layouts.json (X = 1) or RUN/train_layouts_executeX.json
  local policy=$1 run=$2 data=$3; shift 3
  for x in "$@"; do
    local f=train_layouts_execute$x.json; [ "$x" = 1 ] && f=train_layouts.json
    layouts "$policy" "$run" "$data" "$run/$f" --policy.execute "$x"
  done
}
simpler() {  # [SEEDS="0 1 2"] simpler POLICY CHECKPOINT LABEL FLAGS...: SIMPLER's 4 x 24 layouts, seeds SEEDS
  # (default 0), in 2 shards
  local policy=$1 ckpt=$2 label=$3; shift 3
  for s in 1/2 2/2; do
    OMP_NUM_THREADS=1 $B eval --policy $policy --checkpoint $ckpt "$@" --tasks all --episodes 24 \
        --seeds ${SEEDS:-0} --label $label --out runs/learning/eval/$label --no-progress --shard $s &
  done
  wait
}
bc10() {  # [THREADS=N] bc10 RUN FLAGS...: bc_10w16's recipe on data/learning/demos10 (N torch threads, default 2)
  local run=$1; shift
  OMP_NUM_THREADS=${THREADS:-2} $B bc train --data data/learning/demos10 --out runs/learning/$run --model.width 16 "$@" \
      --train.steps 12000 --train.eval_every 2000 --train.keep best --train.save_every 1000 --blind_twin_fraction 0.15 \
      --train.progress false
}
