"""Algorithms, one file each. ``get_agent(name)`` returns the module (Config, State, init, update, act)."""

from __future__ import annotations

from types import ModuleType

from hybridrl.agents import bc, calql, iql, rlpd, sac, td3_bc, wsrl
from hybridrl.agents.base import Spec

AGENTS: dict[str, ModuleType] = {m.NAME: m for m in (bc, td3_bc, iql, sac, rlpd, calql, wsrl)}


def get_agent(name: str) -> ModuleType:
    key = name.lower().replace("-", "_").replace("+", "_")
    if key not in AGENTS:
        raise ValueError(f"unknown algorithm '{name}'; choose one of: {', '.join(sorted(AGENTS))}")
    return AGENTS[key]


__all__ = ["AGENTS", "Spec", "get_agent"]
