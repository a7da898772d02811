#!/bin/bash
# Offline-to-online fine-tuning on the regenerated locomotion medium datasets (docs/finetune.md): each method with
# its defaults (agents/*.py FINETUNE), 3 seeds in one vmapped program, OFFLINE pre-training updates (RLPD: none)
# then ONLINE environment steps, an evaluation every EVERY (default 10k) updates offline and environment steps online.
#   scripts/finetune_results.sh [ALGOS] [DATASETS]     e.g. scripts/finetune_results.sh iql hopper-medium
#   CPU=1 scripts/finetune_results.sh ...              pin to core 1 with a single-threaded XLA
#   OFFLINE=200 ONLINE=200 KEEP=/tmp/trial scripts/finetune_results.sh iql hopper-medium     a quick trial
#   OFFLINE=0 ONLINE=10000 EVERY=1000 scripts/finetune_results.sh rlpd hopper-medium     a short budget, a denser curve
# Defaults: OFFLINE=100000 (the papers: 1M for IQL and Cal-QL, 250k for WSRL), ONLINE=100000. Where the offline run
# of scripts/first_results.sh (runs/first-results/DATASET/ALGO, OFFLINE updates, 3 seeds) is at hand, the run
# starts from its networks (--init-from) instead of pre-training again. Datasets are made
# if missing (runs/datasets). A finished run's config, evaluations, summary and meta are copied to $KEEP/DATASET/ALGO
# (default results/finetune, tracked by git); a run found there is skipped, an unfinished one is resumed from its
# last checkpoint (started again if it has none). Then:
#   python scripts/finetune_table.py results/finetune
#   python scripts/plot_finetune_curves.py results/finetune/hopper-medium docs/figures finetune_hopper_medium
set -euo pipefail
ALGOS=${1:-"iql calql"}
DATASETS=${2:-"hopper-medium walker2d-medium halfcheetah-medium"}
OFFLINE=${OFFLINE:-100000}
ONLINE=${ONLINE:-100000}
KEEP=${KEEP:-results/finetune}
ROOT=runs/datasets
source "$(dirname "$0")/lib.sh"
every=${EVERY:-$((ONLINE < 10000 ? ONLINE : 10000))}
for data in $DATASETS; do
  path=$ROOT/hybridrl/$data-v0
  for algo in $ALGOS; do
    kept=$KEEP/$data/$algo
    out=runs/finetune/$data/$algo-$OFFLINE-$ONLINE
    [ -f "$kept/summary.json" ] && continue
    [ -d "$path" ] || "${RUN[@]}" hybridrl data make "$data" --root "$ROOT"
    if [ -f "$out/summary.json" ]; then
      :  # finished; only the copy is missing
    elif [ -d "$out/checkpoints" ]; then
      "${RUN[@]}" hybridrl finetune --resume "$out" --no-progress
    else
      rm -rf "$out"  # a run stopped before its first checkpoint has nothing to resume
      pre=runs/first-results/$data/$algo
      if [ -f "$pre/summary.json" ] && python -c "import json,sys; sys.exit(json.load(open('$pre/summary.json'))['step'] != $OFFLINE)"; then
        start=(--init-from "$pre")
      else
        start=(--offline-steps "$([ "$algo" = rlpd ] && echo 0 || echo "$OFFLINE")")
      fi
      "${RUN[@]}" hybridrl finetune "$algo" --dataset "$path" "${start[@]}" --online-steps "$ONLINE" \
        --seeds 3 --eval-every "$every" --eval-episodes 10 --out "$out" --no-progress
    fi
    keep "$out" "$kept"
  done
done
