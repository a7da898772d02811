#!/bin/bash
# First offline results on the regenerated locomotion suite (docs/results.md): BC, TD3+BC and IQL,
# 3 seeds each (one vmapped program per algorithm and dataset), 100k gradient steps, on
# {hopper,halfcheetah,walker2d}-{medium,medium-replay,medium-expert}.
#   scripts/first_results.sh [ALGOS] [DATASETS]     e.g. scripts/first_results.sh "td3_bc iql" "hopper-medium"
# Datasets are made first if missing (`hybridrl data make`, under runs/datasets). A finished run is skipped, an
# unfinished one resumed, so rerunning the script continues where it stopped. Then:
#   python scripts/results_table.py runs/first-results > docs/results.md
set -euo pipefail
ALGOS=${1:-"bc td3_bc iql"}
DATASETS=${2:-"hopper-medium hopper-medium-replay hopper-medium-expert halfcheetah-medium halfcheetah-medium-replay \
halfcheetah-medium-expert walker2d-medium walker2d-medium-replay walker2d-medium-expert"}
STEPS=${STEPS:-100000}
ROOT=runs/datasets
for data in $DATASETS; do
  path=$ROOT/hybridrl/$data-v0
  [ -d "$path" ] || nice -n 19 hybridrl data make "$data" --root "$ROOT"
  for algo in $ALGOS; do
    out=runs/first-results/$data/$algo
    if [ -f "$out/summary.json" ] && python -c "import json,sys; sys.exit(json.load(open('$out/summary.json'))['step'] < $STEPS)"; then
      continue
    elif [ -f "$out/config.json" ]; then
      nice -n 19 hybridrl train --resume "$out" --no-progress
    else
      nice -n 19 hybridrl train "$algo" --dataset "$path" --steps "$STEPS" --seeds 3 --eval-every 10000 \
        --eval-episodes 10 --out "$out" --no-progress
    fi
  done
done
