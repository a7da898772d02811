#!/bin/bash
# Offline, online-only and hybrid methods on the combination lock (docs/finetune.md), every method on the same
# lock (lock_seed 0, the data's): BC, TD3+BC and IQL offline (3 seeds, 10k updates); HNPG and online-only TRPO
# (seeds 0-2, one run each); IQL pre-trained 10k updates then fine-tuned online (3 seeds).
#   scripts/lock_results.sh [HORIZONS]       e.g. scripts/lock_results.sh "4"   (default "4 10")
#   CPU=1 scripts/lock_results.sh ...        pin to core 1 with a single-threaded XLA
#   CPU=0 FINETUNE=calql OFFLINE=5000 ONLINE=10000 scripts/lock_results.sh 4     other fine-tuning methods, budgets
# Online budget: 40k environment steps at H=4, 150k at H=10. FINETUNE (default iql) names the fine-tuned methods,
# OFFLINE (default 10000) their pre-training updates, ONLINE their online steps and EVERY the evaluation interval
# (default 10000, or 1000 where ONLINE <= 10000); a run off the OFFLINE and ONLINE defaults is kept as
# ALGO-finetune-OFFLINE-ONLINE. Finished runs are copied (config, evaluations, summary) to results/lock/hH/RUN,
# which git tracks; a run found there is skipped.
#   python scripts/lock_table.py results/lock
set -euo pipefail
HORIZONS=${1:-"4 10"}
ROOT=runs/datasets
source "$(dirname "$0")/lib.sh"
run() {  # run NAME HYBRIDRL_ARGS...: train into runs/lock/hH/NAME unless results/lock/hH/NAME exists
  local name=$1; shift
  local kept=results/lock/h$H/$name out=runs/lock/h$H/$name
  [ -f "$kept/summary.json" ] && return
  rm -rf "$out"
  "${RUN[@]}" hybridrl "$@" --out "$out" --no-progress
  keep "$out" "$kept"
}
for H in $HORIZONS; do
  data=$ROOT/hybridrl/lock-h$H-v0
  [ -d "$data" ] || "${RUN[@]}" hybridrl data make "lock-h$H" --root "$ROOT"
  online=$([ "$H" -le 4 ] && echo 40000 || echo 150000)
  for algo in bc td3_bc iql; do
    run "$algo" train "$algo" --dataset "$data" --steps 10000 --seeds 3 --eval-every 5000 --eval-episodes 100
  done
  for seed in 0 1 2; do
    run "hnpg-s$seed" finetune hnpg --horizon "$H" --dataset "$data" --online-steps "$online" --seed "$seed" \
      --eval-every 10000 --eval-episodes 100
    run "trpo-s$seed" finetune hnpg --horizon "$H" --dataset "$data" --online-steps "$online" --seed "$seed" \
      --eval-every 10000 --eval-episodes 100 --set hybrid=false
  done
  offline=${OFFLINE:-10000}
  steps=${ONLINE:-$online}
  for algo in ${FINETUNE:-iql}; do
    name=$algo-finetune
    [ "$offline-$steps" = "10000-$online" ] || name=$name-$offline-$steps
    run "$name" finetune "$algo" --dataset "$data" --offline-steps "$offline" --online-steps "$steps" --seeds 3 \
      --eval-every "${EVERY:-$(( steps <= 10000 ? 1000 : 10000 ))}" --eval-episodes 100
  done
done
