import numpy as np
import pytest
from PIL import Image

from jaxmarl_lite.plotting import plot_curves


def test_plot_writes_png_with_bands(tmp_path):
    x = np.arange(10) * 100
    y = np.stack([np.linspace(-10, 7, 10) + s for s in range(4)])
    y[:, 0] = np.nan  # no finished episode yet at the first point
    path = plot_curves({"qmix": (x, y), "vdn": (x, y - 2)}, tmp_path / "c.png",
                       baseline=("random", -15.0), title="grid_meet")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # lines, bands and text drawn


def test_plot_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="points"):
        plot_curves({"a": (np.arange(3), np.zeros((2, 4)))}, tmp_path / "x.png")
