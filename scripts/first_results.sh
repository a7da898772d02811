#!/bin/bash
# First offline results on the regenerated locomotion suite (docs/results.md): BC, TD3+BC and IQL,
# 3 seeds each (one vmapped program per algorithm and dataset), 100k gradient steps, on
# {hopper,halfcheetah,walker2d}-{medium,medium-replay,medium-expert}.
#   scripts/first_results.sh [ALGOS] [DATASETS]     e.g. scripts/first_results.sh "td3_bc iql" "hopper-medium"
#   CPU=1 scripts/first_results.sh ...             pin to core 1 with a single-threaded XLA (two side by side)
# Datasets are made first if missing (`hybridrl data make`, under runs/datasets). A finished run's config,
# evaluations and summary are copied to results/first-results/DATASET/ALGO, which is tracked by git: runs/ does
# not outlive a session, results/ does. A run found there is skipped, an unfinished one in runs/ is resumed from its
# last checkpoint (or started again if it has none), so rerunning the script continues where it stopped. Then:
#   python scripts/results_table.py results/first-results | python scripts/update_results_doc.py docs/results.md
set -euo pipefail
ALGOS=${1:-"bc td3_bc iql"}
DATASETS=${2:-"hopper-medium hopper-medium-replay hopper-medium-expert halfcheetah-medium halfcheetah-medium-replay \
halfcheetah-medium-expert walker2d-medium walker2d-medium-replay walker2d-medium-expert"}
STEPS=${STEPS:-100000}
ROOT=runs/datasets
source "$(dirname "$0")/lib.sh"
for data in $DATASETS; do
  path=$ROOT/hybridrl/$data-v0
  for algo in $ALGOS; do
    kept=results/first-results/$data/$algo
    out=runs/first-results/$data/$algo
    finished "$kept" "$STEPS" && continue
    [ -d "$path" ] || "${RUN[@]}" hybridrl data make "$data" --root "$ROOT"
    if [ -d "$out/checkpoints" ]; then
      finished "$out" "$STEPS" || "${RUN[@]}" hybridrl train --resume "$out" --no-progress
    else
      rm -rf "$out"  # a run stopped before its first checkpoint has nothing to resume
      "${RUN[@]}" hybridrl train "$algo" --dataset "$path" --steps "$STEPS" --seeds 3 --eval-every 10000 \
        --eval-episodes 10 --out "$out" --no-progress
    fi
    keep "$out" "$kept"
  done
done
