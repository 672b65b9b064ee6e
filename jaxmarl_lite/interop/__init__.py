"""Adapters at the edges: our envs to and from PettingZoo and JaxMARL, pgx games to ours.

Each peer is an optional extra; importing :mod:`jaxmarl_lite` never needs them, and a
missing one raises an ``ImportError`` naming the install command::

    from jaxmarl_lite.interop import pettingzoo as pz   # pip install "jaxmarl-lite[pettingzoo]"
    from jaxmarl_lite.interop import jaxmarl as jm      # pip install "jaxmarl-lite[jaxmarl]"
    from jaxmarl_lite.interop.pgx import from_pgx       # pip install "jaxmarl-lite[pgx]"
"""
from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import the peer ``module`` or raise naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{module} is needed for this adapter and is not installed: "
                          f'pip install "jaxmarl-lite[{extra}]"') from err
