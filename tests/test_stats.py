"""Seed intervals and paired tests against scipy and exact enumeration."""

import itertools

import numpy as np
import pytest
from scipy import stats as sps

from csrbench.stats import item_means, paired_test, seed_interval


def test_seed_interval_matches_scipy_t_interval():
    x = [0.61, 0.64, 0.60]
    got = seed_interval(x)
    low, high = sps.t.interval(0.95, df=2, loc=np.mean(x), scale=sps.sem(x))
    assert got.mean == pytest.approx(np.mean(x))
    assert got.std == pytest.approx(np.std(x, ddof=1))
    assert (got.low, got.high) == pytest.approx((low, high))
    assert got.n == 3 and got.half_width == pytest.approx((high - low) / 2)


def test_one_seed_has_no_spread_and_bad_values_are_refused():
    one = seed_interval([0.5])
    assert one.n == 1 and one.low == one.high == 0.5 and np.isnan(one.std)
    with pytest.raises(ValueError, match="finite"):
        seed_interval([0.5, float("nan")])
    with pytest.raises(ValueError, match="finite"):
        seed_interval([])


def test_paired_p_value_matches_exact_sign_flip_enumeration():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 1.0, 12)
    b = rng.normal(0.0, 1.0, 12)
    d = a - b
    flips = np.array(list(itertools.product([-1, 1], repeat=d.size)))
    exact = np.mean(np.abs(flips @ d) >= abs(d.sum()) - 1e-12)
    got = paired_test(a, b, n_resamples=20_000, seed=1)
    assert got.diff == pytest.approx(d.mean())
    assert got.p_value == pytest.approx(exact, abs=0.01)


def test_paired_bootstrap_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(0)
    a, b = rng.random(400), rng.random(400) - 0.05
    got = paired_test(a, b, n_resamples=20_000, seed=2)
    ref = sps.bootstrap(
        (a - b,), np.mean, n_resamples=20_000, method="percentile", random_state=5
    ).confidence_interval
    assert got.low == pytest.approx(ref.low, abs=0.004)
    assert got.high == pytest.approx(ref.high, abs=0.004)
    assert got.low < got.diff < got.high


def test_identical_methods_are_not_significant_and_a_clear_win_is():
    x = np.linspace(0, 1, 200)
    same = paired_test(x, x, n_resamples=500)
    assert same.diff == 0 and same.p_value == 1.0 and not same.significant()
    win = paired_test(x + 0.05, x, n_resamples=500)
    assert win.p_value == pytest.approx(1 / 501) and win.significant()


def test_seeds_are_averaged_per_item_before_pairing():
    a = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert item_means(a).tolist() == [0.5, 0.0, 1.0]
    with pytest.raises(ValueError, match="same items"):
        paired_test(a, np.zeros(4))
    with pytest.raises(ValueError, match="n_seeds, n_items"):
        item_means(np.zeros((2, 2, 2)))
