#!/bin/bash
# Offline results on NeoRL-2 (docs/neorl2.md): BC, TD3+BC and IQL, 3 seeds each (one vmapped program), on the
# official data at hand, then FQE checkpoint selection on the same data (no online returns).
#   scripts/neorl2_results.sh [ALGOS] [TASKS]      e.g. scripts/neorl2_results.sh "bc" "DMSD Simglucose"
#   CPU=1 scripts/neorl2_results.sh ...           pin to core 1 with a single-threaded XLA
#   STEPS=2000 FQE_STEPS=500 KEEP=/tmp/trial scripts/neorl2_results.sh bc DMSD     a quick trial
# The data: $HYBRIDRL_NEORL2_DATA (default ../shared/data/neorl2), TASK-train.npz where we have it, else
# TASK-val.npz (RandomFrictionHopper, RocketRecovery, Fusion: only the val split is at hand, so it is the
# training data here, with NeoRL-2's default truncation). Pipeline has no official file: it trains on our
# regenerated train split (`hybridrl data make neorl2-pipeline`, under runs/datasets). Fusion needs
# $HYBRIDRL_NEORL2_FUSION_DIR (default: the data folder's fusion/). Every 20k steps an evaluation (10 episodes
# per seed) and a kept checkpoint. Two passes: first every run trains, then FQE ranks each run's checkpoints
# (SELECT=0 skips the second pass). FQE costs more than training: 15 candidates (5 checkpoints x 3 seeds), 2
# critics each, 20k steps, about 30 minutes of one core per run against 7 for BC's training. A finished run's
# config, evaluations, summary and meta are copied to $KEEP/TASK/ALGO (default results/neorl2, tracked by git), and its
# selection.json after FQE; a step already kept there is skipped. Ten evaluation episodes per seed are too few to
# tell a policy from its data on tasks with random patients, targets or winds (Simglucose's BC scored 84.4 on them
# and 71.6 on 100), so the last checkpoint of every run, and FQE's pick for every seed, are scored again on
# EVAL_EPISODES episodes per seed (default 100; `hybridrl evaluate`, kept in evaluations.jsonl; 0 skips it).
# IQL runs here with observation normalization (mean/std over the data), which its official code leaves out:
# Simglucose's raw features reach 562 and saturate IQL's tanh policy mean from the first update (docs/neorl2.md).
# Then:   python scripts/neorl2_table.py results/neorl2
set -euo pipefail
ALGOS=${1:-"bc td3_bc iql"}
TASKS=${2:-"DMSD Simglucose SafetyHalfCheetah RandomFrictionHopper RocketRecovery Fusion Pipeline"}
STEPS=${STEPS:-100000}
FQE_STEPS=${FQE_STEPS:-20000}
SELECT=${SELECT:-1}
EVAL_EPISODES=${EVAL_EPISODES:-100}
KEEP=${KEEP:-results/neorl2}
DATA=${HYBRIDRL_NEORL2_DATA:-../shared/data/neorl2}
export HYBRIDRL_NEORL2_FUSION_DIR=${HYBRIDRL_NEORL2_FUSION_DIR:-$DATA/fusion}
source "$(dirname "$0")/lib.sh"
every=$((STEPS / 5))
settings_for() {  # settings_for ALGO: set $settings to the ALGO's --set flags in this table
  settings=()
  [ "$1" = iql ] && settings=(--set normalize_observations=true)
  return 0
}
data_for() {  # data_for TASK: set $file to the task's training data; fail if there is none
  file=$DATA/$1-train.npz
  [ -f "$file" ] || file=$DATA/$1-val.npz
  [ -f "$file" ] && return
  # no official file: our regenerated train data, where its policies are shipped
  local name
  name=neorl2-$(echo "$1" | tr '[:upper:]' '[:lower:]')
  file=runs/datasets/hybridrl/$name-train-v0
  [ -d "$file" ] || "${RUN[@]}" hybridrl data make "$name" --root runs/datasets && return
  echo "skipping $1: no $1-train.npz or $1-val.npz in $DATA, and no regenerated data" >&2
  return 1
}
evaluated() {  # evaluated KEPT_DIR STEP: STEP was scored on EVAL_EPISODES episodes per seed, or EVAL_EPISODES is 0
  [ "$EVAL_EPISODES" = 0 ] || { [ -f "$1/evaluations.jsonl" ] && python -c "import json,sys
sys.exit(not any(r['step'] == $2 and r['episodes'] == $EVAL_EPISODES for r in map(json.loads, open('$1/evaluations.jsonl'))))"; }
}
has_checkpoints() {  # has_checkpoints RUN_DIR KEPT_DIR WHAT: the run's checkpoints are at hand; else say so and fail
  [ -d "$1/checkpoints" ] && return
  echo "skipping $3 of $2: its checkpoints ($1) are gone, as runs/ does not outlive a session; delete $2 to train it again" >&2
  return 1
}
evaluate() {  # evaluate RUN_DIR KEPT_DIR STEP [EXTRA_FILE...]: score STEP on EVAL_EPISODES episodes per seed, keep it
  local out=$1 kept=$2 step=$3
  shift 3
  evaluated "$kept" "$step" && return
  has_checkpoints "$out" "$kept" "the $EVAL_EPISODES-episode evaluation at step $step" || return 0
  "${RUN[@]}" hybridrl evaluate "$out" --step "$step" --episodes "$EVAL_EPISODES" > /dev/null
  keep "$out" "$kept" evaluations.jsonl "$@"
}
for task in $TASKS; do  # pass 1: train
  data_for "$task" || continue
  for algo in $ALGOS; do
    kept=$KEEP/$task/$algo
    out=runs/neorl2/$task/$algo-$STEPS
    if ! finished "$kept" "$STEPS"; then
      if [ -d "$out/checkpoints" ]; then
        finished "$out" "$STEPS" || "${RUN[@]}" hybridrl train --resume "$out" --no-progress
      else
        rm -rf "$out"  # a run stopped before its first checkpoint has nothing to resume
        settings_for "$algo"
        "${RUN[@]}" hybridrl train "$algo" --dataset "$file" --steps "$STEPS" --seeds 3 --eval-every "$every" \
          --eval-episodes 10 --keep-checkpoints 6 --out "$out" --no-progress "${settings[@]}"
      fi
      keep "$out" "$kept"
    fi
    evaluate "$out" "$kept" "$STEPS"
  done
done
[ "$SELECT" = 1 ] || exit 0
for task in $TASKS; do  # pass 2: FQE checkpoint selection on the same data
  data_for "$task" || continue
  for algo in $ALGOS; do
    kept=$KEEP/$task/$algo
    out=runs/neorl2/$task/$algo-$STEPS
    if [ ! -f "$kept/selection.json" ]; then
      has_checkpoints "$out" "$kept" "FQE selection" || continue
      [ -f "$out/selection.json" ] || "${RUN[@]}" hybridrl select "$out" --dataset "$file" --steps "$FQE_STEPS" --no-progress
      keep "$out" "$kept" selection.json
    fi
    for step in $(python -c "import sys; sys.path.insert(0, '$(dirname "$0")'); from neorl2_table import fqe_picks
print(*sorted(set(fqe_picks('$kept').values())))"); do
      evaluate "$out" "$kept" "$step" selection.json  # FQE's pick for some seed
    done
  done
done
