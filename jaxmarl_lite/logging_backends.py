"""Optional experiment loggers for training runs: TensorBoard and Weights & Biases.

Both are off by default and live behind extras (``pip install 'jaxmarl-lite[tensorboard]'``,
``pip install 'jaxmarl-lite[wandb]'``). They are fed from the host after every compiled chunk
of updates, with the same per-update metrics that go to ``metrics/seed_<i>.csv``, so they
cost nothing inside the compiled loop. Each metric is logged as its mean over seeds
(``<metric>/mean``) and per seed (``<metric>/seed_<i>``), at step = the update index.
W&B runs offline unless ``WANDB_MODE`` says otherwise (``wandb sync`` uploads later).
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

EXTRAS = {"tensorboardX": "tensorboard", "wandb": "wandb"}


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this logger needs the {module!r} package: "
                          f"pip install 'jaxmarl-lite[{EXTRAS[module]}]'") from None


def _rows(metrics: Mapping[str, np.ndarray], first_update: int):
    """``(update, {name: [seeds] values})`` for every update of a chunk (``[S, n]`` arrays)."""
    n = next(iter(metrics.values())).shape[1]
    for i in range(n):
        yield first_update + i + 1, {k: np.asarray(v)[:, i] for k, v in metrics.items()}


def _scalars(values: Dict[str, np.ndarray]) -> Dict[str, float]:
    out = {}
    for name, per_seed in values.items():
        finite = per_seed[np.isfinite(per_seed)]
        if finite.size:
            out[f"{name}/mean"] = float(finite.mean())
        for i, v in enumerate(per_seed):
            if np.isfinite(v):
                out[f"{name}/seed_{i}"] = float(v)
    return out


class TensorBoardLogger:
    """Event files under ``<run_dir>/tensorboard`` (tensorboardX; no TensorFlow needed)."""

    def __init__(self, run_dir: Path):
        self._writer = _require("tensorboardX").SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def log(self, metrics: Mapping[str, np.ndarray], first_update: int) -> None:
        for update, values in _rows(metrics, first_update):
            for tag, value in _scalars(values).items():
                self._writer.add_scalar(tag, value, global_step=update)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbLogger:
    """A W&B run in ``<run_dir>/wandb`` (offline unless ``WANDB_MODE`` is set)."""

    def __init__(self, run_dir: Path, project: str, config: Dict[str, Any], name: str):
        wandb = _require("wandb")
        self._run = wandb.init(project=project, dir=str(run_dir), config=config, name=name,
                               mode=os.environ.get("WANDB_MODE", "offline"), reinit=True)

    def log(self, metrics: Mapping[str, np.ndarray], first_update: int) -> None:
        for update, values in _rows(metrics, first_update):
            self._run.log(_scalars(values), step=update)

    def close(self) -> None:
        self._run.finish()


def check_available(*, tensorboard: bool = False, wandb_project: Optional[str] = None) -> None:
    """Raise ``ImportError`` naming the extra to install if a requested logger's package is
    missing (call it before creating anything on disk or compiling)."""
    if tensorboard:
        _require("tensorboardX")
    if wandb_project:
        _require("wandb")


def make_loggers(run_dir: Path, *, tensorboard: bool = False, wandb_project: Optional[str] = None,
                 config: Optional[Dict[str, Any]] = None, name: str = "run") -> List[Any]:
    """The requested loggers (a missing package raises ``ImportError`` naming the extra)."""
    loggers: List[Any] = []
    if tensorboard:
        loggers.append(TensorBoardLogger(run_dir))
    if wandb_project:
        loggers.append(WandbLogger(run_dir, wandb_project, config or {}, name))
    return loggers
