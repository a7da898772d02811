"""RLPD (Ball, Smith, Kostrikov & Levine, "Efficient Online Reinforcement Learning with Offline Data", 2023).

RLPD is SAC with three changes, and this file only states them; the losses and
the update are SAC's (``hybridrl.agents.sac``):

- a critic ensemble of 10 with LayerNorm, the target a min over a random subset
  of 2, the actor on the ensemble mean (``Config`` below);
- a high update-to-data ratio: 20 critic steps per environment step;
- symmetric sampling with no pre-training: every minibatch is half offline,
  half online data, from the first environment step on (``FINETUNE``: the
  fine-tuning loop's defaults).

Settings from the official code's ``rlpd_config`` and README commands
(shared/reference/finetune.md section 7).
"""

from __future__ import annotations

import dataclasses

from hybridrl.agents import sac
from hybridrl.agents.sac import State, act, init, samples_per_update, update, validate  # noqa: F401  (the interface)

NAME = "rlpd"
ONLINE_FROM_SCRATCH = True  # without data it is REDQ-style SAC
# No pre-training, 50/50 batches, 5,000 uniform-random steps before the first update (README commands).
FINETUNE = {"offline_steps": 0, "mix": "0.5", "start_steps": 5_000, "warmup_steps": 0}


@dataclasses.dataclass(frozen=True)
class Config(sac.Config):
    num_critics: int = 10  # rlpd_config
    num_min: int = 2  # rlpd_config: target subset of 2
    critic_layer_norm: bool = True  # rlpd_config
    utd: int = 20  # every README command
    actor_q: str = "mean"  # sac_learner: the actor loss uses the mean over the 10 critics

