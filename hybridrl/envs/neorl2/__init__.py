"""NeoRL-2 (Polixir, 2025): seven near-real-world control tasks, rebuilt from shared/reference/neorl2.md.

Each task is a Gymnasium environment registered as ``neorl2/TASK-v0`` with NeoRL-2's time limit, made with
``gymnasium.make("neorl2/DMSD-v0")`` once ``hybridrl.envs`` is imported (``hybridrl train ... --env
neorl2/DMSD-v0`` does that). One module per task; this file only registers them.
"""

from __future__ import annotations

import gymnasium as gym

# task -> (entry point, max_episode_steps, registration kwargs): neorl2.md section 0.1
TASKS: dict[str, tuple[str, int, dict]] = {
    "Pipeline": ("hybridrl.envs.neorl2.pipeline:PipelineEnv", 1000, {}),
    "Simglucose": ("hybridrl.envs.neorl2.simglucose:SimglucoseEnv", 480, {"mode": "train"}),
    "RocketRecovery": ("hybridrl.envs.neorl2.rocket:RocketRecoveryEnv", 500, {"mode": "train"}),
    "RandomFrictionHopper": ("hybridrl.envs.neorl2.hopper:RandomFrictionHopperEnv", 1000, {"random_friction": True}),
    "DMSD": ("hybridrl.envs.neorl2.dmsd:DMSDEnv", 100, {"mode": "train"}),
    "Fusion": ("hybridrl.envs.neorl2.fusion:FusionEnv", 100, {"random_target": True, "mode": "train"}),
    "SafetyHalfCheetah": ("hybridrl.envs.neorl2.halfcheetah:SafetyHalfCheetahEnv", 1000, {}),
}
# Tasks with a batched vector env of their own (gymnasium.make_vec uses it; hybridrl's make_vec_env too, without
# wrappers): Fusion's cost is its ONNX calls, which take a batch.
VECTOR_ENTRY_POINTS = {"Fusion": "hybridrl.envs.neorl2.fusion:FusionVectorEnv"}
TASK_NAMES = {task.lower(): task for task in TASKS}  # as data and policy names spell them: neorl2-dmsd -> DMSD


def env_id(task: str) -> str:
    return f"neorl2/{task}-v0"


def register() -> None:
    """Register every task with Gymnasium (idempotent)."""
    for task, (entry_point, max_steps, kwargs) in TASKS.items():
        if env_id(task) not in gym.registry:
            gym.register(id=env_id(task), entry_point=entry_point, max_episode_steps=max_steps, kwargs=kwargs,
                         vector_entry_point=VECTOR_ENTRY_POINTS.get(task))


register()
