"""Spread and significance: what turns a table of numbers into a verdict.

Two questions a reviewer asks of every "A beats B":
- how much does A move between training seeds? `seed_interval` gives mean, std and a
  Student-t 95% interval over seeds (three seeds make a wide interval, honestly so);
- is A's edge larger than the test set's noise? `paired_test` compares two methods on the
  same test items (per-query nDCG@10, per-image 1-NN hit), pooled across seeds by
  averaging each item's score over seeds first, then a paired sign-flip permutation test
  (exact in distribution under the null that the two methods are exchangeable per item)
  and a percentile bootstrap interval of the mean difference.

Both are vectorised over resamples (chunks of `chunk` resamples), so 10,000 resamples of
50,000 queries take about a second and a constant amount of memory.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 10_000


@dataclass(frozen=True)
class SeedInterval:
    """Mean over seeds with its std (ddof 1) and a two-sided Student-t interval."""

    mean: float
    std: float
    low: float
    high: float
    n: int
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def seed_interval(values: np.ndarray | list[float], confidence: float = CONFIDENCE) -> SeedInterval:
    """Interval of the mean of per-seed values; one seed gives a zero-width interval with
    std nan (a single number has no spread to report, and the table says n = 1)."""
    from scipy.stats import t as student_t

    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"seed_interval needs finite values, got {x.tolist()}")
    mean = float(x.mean())
    if x.size == 1:
        return SeedInterval(mean, math.nan, mean, mean, 1, confidence)
    std = float(x.std(ddof=1))
    half = float(student_t.ppf(0.5 + confidence / 2, df=x.size - 1)) * std / math.sqrt(x.size)
    return SeedInterval(mean, std, mean - half, mean + half, int(x.size), confidence)


@dataclass(frozen=True)
class PairedResult:
    """A minus B on the same items: mean difference, bootstrap interval, permutation p."""

    diff: float
    low: float
    high: float
    p_value: float
    n_items: int
    n_resamples: int
    confidence: float = CONFIDENCE

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def item_means(scores: np.ndarray | list) -> np.ndarray:
    """[n_items] from [n_items] or [n_seeds, n_items]: each item's score averaged over seeds."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        return x
    if x.ndim == 2:
        return x.mean(axis=0)
    raise ValueError(f"per-item scores must be [n_items] or [n_seeds, n_items], got {x.shape}")


def paired_test(
    a: np.ndarray | list,
    b: np.ndarray | list,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    chunk: int = 1000,
) -> PairedResult:
    """Paired comparison of two methods' per-item scores (higher is better).

    The p-value is two-sided, (1 + #{|resampled mean| >= |observed|}) / (1 + R), so it is
    never zero (a permutation test cannot prove more than its resample count allows).
    """
    da, db = item_means(a), item_means(b)
    if da.shape != db.shape:
        raise ValueError(f"paired scores must cover the same items: {da.shape} vs {db.shape}")
    if da.size < 2:
        raise ValueError("a paired test needs at least two items")
    diff = da - db
    n = diff.size
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    extreme = 0
    boot = np.empty(n_resamples)
    tol = 1e-12 * max(1.0, abs(observed))
    for start in range(0, n_resamples, chunk):
        r = min(chunk, n_resamples - start)
        signs = rng.integers(0, 2, size=(r, n), dtype=np.int8).astype(np.float64) * 2 - 1
        flipped = signs @ diff / n
        extreme += int(np.count_nonzero(np.abs(flipped) >= abs(observed) - tol))
        picks = rng.integers(0, n, size=(r, n))
        boot[start : start + r] = diff[picks].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    p = (1 + extreme) / (1 + n_resamples)
    return PairedResult(observed, float(low), float(high), p, n, n_resamples, confidence)
