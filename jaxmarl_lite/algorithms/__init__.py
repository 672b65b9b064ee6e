"""Training algorithms. Each module exposes ``Config``, ``PRESETS``, ``init_params``,
``make_stages``, ``make_train``, ``make_policy`` and its pure loss/update functions;
:func:`get` loads one by name (``ALGORITHMS`` lists them). Evaluation of any policy:
:func:`evaluate`, with :func:`random_policy` as the baseline and :class:`Policy` the interface
every ``make_policy`` returns."""
from __future__ import annotations

import importlib
from types import ModuleType

from jaxmarl_lite.algorithms._common.evaluation import (  # noqa: F401  (public)
    EvalResult, Policy, evaluate, random_policy)
from jaxmarl_lite.registry import unknown_name_message

ALGORITHMS = {
    "iql": "jaxmarl_lite.algorithms.iql",
    "vdn": "jaxmarl_lite.algorithms.vdn",
    "qmix": "jaxmarl_lite.algorithms.qmix",
    "mappo": "jaxmarl_lite.algorithms.mappo",
    "ippo": "jaxmarl_lite.algorithms.ippo",
    "maddpg": "jaxmarl_lite.algorithms.maddpg",
    "coma": "jaxmarl_lite.algorithms.coma",
    "seac": "jaxmarl_lite.algorithms.seac",
    "alphazero": "jaxmarl_lite.algorithms.alphazero",
    "pqn": "jaxmarl_lite.algorithms.pqn",
}


def get(name: str) -> ModuleType:
    """The algorithm module called ``name`` (``ValueError`` listing the valid names)."""
    if name not in ALGORITHMS:
        raise ValueError(unknown_name_message("algorithm", name, sorted(ALGORITHMS)))
    try:
        return importlib.import_module(ALGORITHMS[name])
    except ModuleNotFoundError as err:
        if err.name != ALGORITHMS[name]:
            raise
        raise ValueError(f"algorithm {name!r} is not implemented yet") from None
