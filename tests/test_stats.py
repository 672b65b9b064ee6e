import numpy as np
import pytest

from jaxmarl_lite.stats import bootstrap_ci, iqm, mean_ci


def test_mean_ci_matches_hand_computation():
    x = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [6.0, 10.0]])
    mean, half = mean_ci(x)
    np.testing.assert_allclose(mean, [3.0, 10.0])
    sd = np.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + 0 + (6 - 3) ** 2) / 3)
    np.testing.assert_allclose(half, [3.182 * sd / 2, 0.0])
    assert np.isnan(mean_ci(np.ones((1, 3)))[1]).all()


def test_iqm_ignores_outliers():
    assert iqm([1, 2, 3, 4, 100, -100, 2.5, 3.5]) == pytest.approx(np.mean([2, 2.5, 3, 3.5]))


def test_bootstrap_interval_contains_mean_and_is_reproducible():
    x = np.random.default_rng(1).normal(5.0, 1.0, 200)
    a = bootstrap_ci(x, seed=3)
    assert a == bootstrap_ci(x, seed=3)
    assert a.low < a.value < a.high and a.low < 5.0 < a.high
    assert a.high - a.low < 0.5
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])
