from __future__ import annotations

import numpy as np
import pytest

from csrbench.retrieval.inverted import posting_list_lengths
from csrbench.retrieval.synthetic import (
    inclusion_probabilities,
    sample_codes,
    usage_frequencies,
    zipf_frequencies,
)


def test_inclusion_probabilities_cap_and_sum_to_k() -> None:
    f = np.array([100.0, 1, 1, 1, 1, 1, 0])
    pi = inclusion_probabilities(f, 3)
    assert pi[0] == 1.0 and pi[-1] == 0.0
    np.testing.assert_allclose(pi.sum(), 3.0)
    np.testing.assert_allclose(pi[1:6], 0.4)


def test_sampled_usage_matches_the_frequencies() -> None:
    h, k, n = 200, 16, 40_000
    freq = zipf_frequencies(h, 1.0)
    codes = sample_codes(n, h, k, freq=freq, seed=3)
    assert codes.indices.dtype == np.int16 and codes.values.dtype == np.float16
    s = np.sort(codes.indices, axis=1)
    assert (s[:, 1:] != s[:, :-1]).all(), "latents within a row must be distinct"
    pi = inclusion_probabilities(freq, k)
    observed = posting_list_lengths(codes) / n
    # binomial standard error of a share pi over n rows, 5 sigma
    tol = 5 * np.sqrt(pi * (1 - pi) / n) + 1e-9
    assert (np.abs(observed - pi) <= tol).all()
    np.testing.assert_allclose(usage_frequencies(codes), observed / k, atol=1e-12)
    assert (codes.values > 0).all()


def test_frequencies_from_codes_round_trip() -> None:
    first = sample_codes(5000, 64, 8, exponent=0.8, seed=1)
    second = sample_codes(5000, 64, 8, freq=usage_frequencies(first), seed=2)
    a, b = posting_list_lengths(first), posting_list_lengths(second)
    assert np.abs(a - b).max() < 5 * np.sqrt(a.max())


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least k"):
        inclusion_probabilities(np.array([1.0, 0, 0]), 2)
    with pytest.raises(ValueError, match="k <= h"):
        sample_codes(10, 4, 5)
    with pytest.raises(ValueError, match="frequencies for h"):
        sample_codes(10, 8, 2, freq=np.ones(7))
