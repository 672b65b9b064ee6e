"""Rendering helpers shared by all environments (host side, NumPy + Pillow)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Union

import numpy as np
from PIL import Image


def save_gif(frames: Iterable[np.ndarray], path: Union[str, Path], fps: float = 10.0) -> Path:
    """Write RGB frames (each ``[H, W, 3]`` uint8, e.g. from ``env.render(state)``) as a
    looping GIF at ``fps`` frames per second; returns the path."""
    images = [Image.fromarray(np.asarray(f, np.uint8)).convert("RGB") for f in frames]
    if not images:
        raise ValueError("save_gif needs at least one frame")
    if fps <= 0:
        raise ValueError(f"save_gif needs fps > 0, got {fps}")
    path = Path(path)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0
    )
    return path
