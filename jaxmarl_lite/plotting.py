"""Learning curves: mean and 95% CI across seeds, one line per run (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Tuple

import numpy as np

from jaxmarl_lite.stats import mean_ci


def plot_curves(
    curves: Mapping[str, Tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    title: str = "",
    xlabel: str = "env steps",
    ylabel: str = "episode return",
    baseline: Optional[Tuple[str, float]] = None,
) -> Path:
    """Write a PNG of learning curves.

    ``curves`` maps a label to ``(x [num_points], y [num_seeds, num_points])``; each is drawn
    as the mean over seeds with a shaded 95% t-interval. ``baseline`` draws a labelled
    horizontal line (e.g. a random policy's return). NaN points (no finished episode yet)
    are skipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for label, (x, y) in curves.items():
        x = np.asarray(x, np.float64)
        y = np.atleast_2d(np.asarray(y, np.float64))
        if y.shape[-1] != x.shape[0]:
            raise ValueError(f"{label}: y has {y.shape[-1]} points but x has {x.shape[0]}")
        keep = ~np.isnan(y).any(axis=0)
        mean, half = mean_ci(y[:, keep])
        (line,) = ax.plot(x[keep], mean, label=f"{label} (n={y.shape[0]})")
        if y.shape[0] > 1:
            ax.fill_between(x[keep], mean - half, mean + half, alpha=0.25, color=line.get_color())
    if baseline is not None:
        ax.axhline(baseline[1], color="grey", linestyle="--", label=baseline[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
