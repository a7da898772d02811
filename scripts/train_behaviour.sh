#!/bin/bash
# Train (or resume) the SAC run behind one environment's behaviour policies (docs/datasets.md).
#   scripts/train_behaviour.sh Hopper-v5 [ENV_STEPS]     (default 500,000 environment steps, seed 0)
# Niced, checkpointed every evaluation with every checkpoint kept, so that the medium and expert steps
# can be exported later with `hybridrl data export-policy`. Rerunning the script resumes the run.
set -euo pipefail
ENV_ID=${1:?usage: scripts/train_behaviour.sh ENV_ID [ENV_STEPS]}
STEPS=${2:-500000}
OUT=runs/behaviour/$(echo "$ENV_ID" | tr '[:upper:]' '[:lower:]')-sac-s0
if [ -f "$OUT/config.json" ]; then
  exec nice -n 19 hybridrl train --resume "$OUT" --no-progress
fi
exec nice -n 19 hybridrl train sac --env "$ENV_ID" --online-steps "$STEPS" --seeds 1 --seed 0 --start-steps 5000 \
  --eval-every 10000 --eval-episodes 10 --log-every 5000 --keep-checkpoints 100 --out "$OUT" --no-progress
