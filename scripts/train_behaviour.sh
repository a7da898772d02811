#!/bin/bash
# Train (or resume) the SAC run behind one environment's behaviour policies (docs/datasets.md).
#   scripts/train_behaviour.sh Hopper-v5 [ENV_STEPS]     (default 300,000 environment steps, seed 0)
#   CPU=1 scripts/train_behaviour.sh Walker2d-v5         (pin to core 1, one XLA thread)
#   EVERY=2500 scripts/train_behaviour.sh neorl2/RocketRecovery-v0 60000   (an evaluation every 2,500 steps)
#   SET="target_entropy=-6" scripts/train_behaviour.sh neorl2/Simglucose-v0   (SAC settings, as --set KEY=VALUE)
#   SEEDS=4 scripts/train_behaviour.sh neorl2/Fusion-v0 50000   (4 seeds in one vmapped run: more checkpoints to
#   pick policies from, where environment steps cost more than updates)
# Niced, checkpointed every evaluation with every checkpoint kept, so that the medium and expert steps
# can be exported later with `hybridrl data export-policy`. Rerunning the script resumes the run.
# With CPU set, the run is pinned to that core with a single-threaded XLA: on the 2-core machine two such
# runs side by side did 2 x 143 SAC updates/s against 225 for one run using both cores.
set -euo pipefail
ENV_ID=${1:?usage: scripts/train_behaviour.sh ENV_ID [ENV_STEPS]}
STEPS=${2:-300000}
EVERY=${EVERY:-10000}  # environment steps between evaluations (and kept checkpoints)
SEEDS=${SEEDS:-1}
SETTINGS=()
for pair in ${SET:-}; do SETTINGS+=(--set "$pair"); done
OUT=runs/behaviour/$(echo "$ENV_ID" | tr '[:upper:]' '[:lower:]')-sac-s0
source "$(dirname "$0")/lib.sh"
if [ -f "$OUT/config.json" ]; then
  exec "${RUN[@]}" hybridrl train --resume "$OUT" --no-progress
fi
exec "${RUN[@]}" hybridrl train sac --env "$ENV_ID" --online-steps "$STEPS" --seeds "$SEEDS" --seed 0 --start-steps 5000 \
  --eval-every "$EVERY" --eval-episodes 10 --log-every 5000 --keep-checkpoints 100 --out "$OUT" --no-progress "${SETTINGS[@]}"
