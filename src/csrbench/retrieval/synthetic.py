"""Synthetic fixed-k codes with given per-latent usage frequencies, for speed benchmarks.

An inverted index's cost is set by posting-list lengths, i.e. by how often each latent
is used, so uniformly random codes would flatter it. Here each document draws k
distinct latents such that latent j is active in a fraction pi_j of the documents,
exactly: pi = k * freq / sum(freq) (capped at 1 with the excess redistributed), and
each row is a systematic probability-proportional-to-size sample (Madow): lay the pi_j
end to end in a random order, draw u ~ U(0, 1), take the latents under u, u+1, ...,
u+k-1. Intervals of length <= 1 hold at most one of those points, so the k latents are
distinct. A fresh random order per chunk of rows keeps the joint pattern from being
fixed. Feed it the usage of a trained model's codes (`usage_frequencies`) to get that
model's posting lengths; the default is Zipf-like, freq_j ~ (j + 1)^-exponent.
"""

from __future__ import annotations

import numpy as np

from csrbench.codes import SparseCodes, index_dtype


def zipf_frequencies(h: int, exponent: float = 0.5, seed: int | None = 0) -> np.ndarray:
    """float64 [h] summing to 1, the r-th most used latent at ~ r^-exponent (exponent 0:
    uniform). Ranks are assigned to latent ids at random (seed None: rank = id), as in a
    trained model, where popular latents are not neighbours."""
    f = np.arange(1, h + 1, dtype=np.float64) ** -float(exponent)
    if seed is not None:
        f = f[np.random.default_rng(seed).permutation(h)]
    return f / f.sum()


def usage_frequencies(codes: SparseCodes) -> np.ndarray:
    """float64 [h]: share of all nonzero slots that use each latent (sums to 1)."""
    counts = np.bincount(
        codes.indices[codes.values != 0].astype(np.int64), minlength=codes.h
    ).astype(np.float64)
    if counts.sum() == 0:
        raise ValueError("codes have no nonzero slot; no usage frequencies to take")
    return counts / counts.sum()


def inclusion_probabilities(freq: np.ndarray, k: int) -> np.ndarray:
    """pi_j (sums to k, each <= 1): the fraction of documents in which latent j is active."""
    f = np.asarray(freq, dtype=np.float64)
    if f.ndim != 1 or (f < 0).any() or not np.isfinite(f).all():
        raise ValueError("frequencies must be a 1-D vector of finite values >= 0")
    if (f > 0).sum() < k:
        raise ValueError(f"need at least k={k} latents with frequency > 0, got {(f > 0).sum()}")
    pi = np.zeros_like(f)
    capped = np.zeros(f.shape, dtype=bool)
    while True:  # cap at 1, give the excess to the rest in proportion (<= h rounds)
        free = ~capped
        pi[free] = (k - capped.sum()) * f[free] / f[free].sum()
        over = free & (pi >= 1.0)
        if not over.any():
            break
        capped |= over
        pi[capped] = 1.0
    return pi


def sample_codes(
    n: int,
    h: int,
    k: int,
    freq: np.ndarray | None = None,
    exponent: float = 0.5,
    seed: int = 0,
    value_dtype: str = "float16",
    chunk: int = 1024,
) -> SparseCodes:
    """n rows of k distinct latents out of h with usage `freq` (default Zipf-like).

    Values are |N(0, 1)| + 0.01 (positive, as after ReLU), sorted descending in a row as
    a TopK encoder emits them.
    """
    if not 0 < k <= h:
        raise ValueError(f"need 0 < k <= h, got k={k}, h={h}")
    freq = zipf_frequencies(h, exponent) if freq is None else np.asarray(freq)
    if len(freq) != h:
        raise ValueError(f"{len(freq)} frequencies for h={h} latents")
    pi = inclusion_probabilities(freq, k)
    rng = np.random.default_rng(seed)
    idx = np.empty((n, k), dtype=index_dtype(h))  # not int64: 10M rows stay 4x smaller
    steps = np.arange(k, dtype=np.float64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        perm = rng.permutation(h)
        cum = np.concatenate([[0.0], np.cumsum(pi[perm])])
        cum[-1] = np.inf  # rounding never pushes a point past the last interval
        u = rng.random(stop - start)[:, None] + steps
        pos = np.searchsorted(cum, u, side="right") - 1
        idx[start:stop] = perm[np.clip(pos, 0, h - 1)]
    _repair_duplicates(idx, pi, rng)
    vals = np.empty((n, k), dtype=value_dtype)
    for start in range(0, n, 1 << 16):  # in chunks: no [n, k] float32 transients
        v = np.abs(rng.standard_normal((min(n - start, 1 << 16), k), dtype=np.float32)) + 0.01
        vals[start : start + len(v)] = -np.sort(-v, axis=1)
    return SparseCodes(indices=idx, values=vals, h=h)


def _repair_duplicates(idx: np.ndarray, pi: np.ndarray, rng: np.random.Generator) -> None:
    """Rows where float rounding at a pi_j = 1 boundary repeated a latent: redraw the
    repeats from the unused latents (weighted by pi); this touches a handful of rows."""
    s = np.sort(idx, axis=1)
    bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
    for r in bad:
        row = idx[r]
        _, first = np.unique(row, return_index=True)
        dup = np.setdiff1d(np.arange(len(row)), first)
        w = pi.copy()
        w[row] = 0
        row[dup] = rng.choice(len(pi), size=len(dup), replace=False, p=w / w.sum())
