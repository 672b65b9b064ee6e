"""IQL: independent recurrent Q-learners (per-agent rewards, no mixer).

A thin front over :mod:`jaxmarl_lite.algorithms.q_learning` (one implementation for IQL,
VDN and QMIX): ``Config`` fixes ``mixer="none"``; everything else is shared.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from jaxmarl_lite.algorithms import q_learning as _core
from jaxmarl_lite.algorithms.q_learning import (  # noqa: F401  (the module API)
    Episode, QNetwork, QParams, init_params, loss, make_mixer, make_network, make_policy,
    make_stages, make_train, td_lambda_targets, time_major)


@dataclasses.dataclass(frozen=True)
class Config(_core.Config):
    mixer: Literal["none"] = "none"
    """Fixed for this algorithm (see :mod:`jaxmarl_lite.algorithms.q_learning`)."""


PRESETS: dict[str, Config] = {
    name: Config(**{**preset.to_dict(), "mixer": "none"}) for name, preset in _core.PRESETS.items()
}
