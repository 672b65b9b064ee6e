"""IPPO: independent PPO learners, each critic on its own observation.

A thin front over :mod:`jaxmarl_lite.algorithms.ppo` (one implementation for MAPPO and
IPPO): only the default ``critic`` and the presets differ.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from jaxmarl_lite.algorithms import ppo as _core
from jaxmarl_lite.algorithms.ppo import (  # noqa: F401  (the module API)
    Batch, Params, init_params, loss, make_nets, make_policy, make_stages, make_train)


@dataclasses.dataclass(frozen=True)
class Config(_core.Config):
    critic: Literal["centralised", "agent_specific", "local"] = "local"
    """Critic input (see :mod:`jaxmarl_lite.algorithms.ppo`)."""


PRESETS: dict[str, Config] = {
    name: Config(**{**preset.to_dict(), "critic": "local"})
    for name, preset in _core.PRESETS.items()
}
