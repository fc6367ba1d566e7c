"""Training-free (or closed-form) baselines: PCA, random feature selection, quantisation.

All of them fit from a matrix that may be a memory map larger than RAM, so fitting
streams it in row blocks; the fitted state is a few tensors saved by
`csrbench.methods.baselines`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor


def iter_blocks(x: np.ndarray | Tensor, rows: int = 65536) -> Iterator[Tensor]:
    """float32 row blocks (copies) of a (possibly memory-mapped) matrix."""
    for s in range(0, x.shape[0], rows):
        block = x[s : s + rows]
        if isinstance(block, Tensor):
            yield block.float()
        else:
            yield torch.from_numpy(np.array(block, dtype=np.float32))


def fit_pca(x: np.ndarray | Tensor, center: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(mean [d], components [d, d] rows by decreasing variance, explained variance [d]).

    Covariance accumulated in float64 block by block, then an eigendecomposition; the
    signs follow scikit-learn's `svd_flip` convention (largest-|.| entry of each component
    positive) so that results are comparable with `sklearn.decomposition.PCA`.
    """
    n = x.shape[0]
    d = x.shape[1]
    total = torch.zeros(d, dtype=torch.float64)
    for b in iter_blocks(x):
        total += b.double().sum(0)
    mean = total / n if center else torch.zeros(d, dtype=torch.float64)
    cov = torch.zeros(d, d, dtype=torch.float64)
    for b in iter_blocks(x):
        c = b.double() - mean
        cov += c.t() @ c
    cov /= max(n - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)
    evals, comps = evals[order].clamp_min(0), evecs[:, order].t().contiguous()
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    signs[signs == 0] = 1
    comps = comps * signs
    return mean.float(), comps.float(), evals.float()


def random_permutation(d: int, seed: int) -> Tensor:
    """A seeded permutation of the d dims; `randfs` at m keeps its first m entries."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(d, generator=g)


def fit_int8_scale(x: np.ndarray | Tensor, quantile: float = 1.0) -> Tensor:
    """One symmetric scale for the whole matrix: int8 = round(x / scale), |.| <= 127.

    A single scale (not one per dim) keeps inner products proportional to the float
    ones, so evaluators can use int8 codes directly as vectors; `quantile` < 1 clips
    outliers (the quantile of |x| maps to 127).
    """
    if quantile >= 1.0:
        m = max(float(b.abs().max()) for b in iter_blocks(x)) if x.shape[0] else 1.0
    else:
        sample = next(iter_blocks(x[: min(x.shape[0], 100_000)], rows=100_000)).abs()
        m = float(torch.quantile(sample.flatten()[:16_000_000], quantile))
    return torch.tensor(max(m, 1e-12) / 127.0)


def quantize_int8(x: Tensor, scale: Tensor) -> Tensor:
    return torch.clamp(torch.round(x / scale.to(x.device)), -127, 127).to(torch.int8)


def binarize(x: Tensor, threshold: Tensor) -> Tensor:
    """+1 / -1 int8 codes (x > threshold); stored packed they take d/8 bytes.

    Returned unpacked as +-1 so that the dot product of two codes is d - 2 * Hamming
    distance: ranking by dot product is ranking by Hamming distance.
    """
    return torch.where(x > threshold.to(x.device), 1, -1).to(torch.int8)


def pack_binary(codes: np.ndarray) -> np.ndarray:
    """+-1 codes -> packed bits (uint8, d/8 bytes per row): the storage form."""
    return np.packbits(codes > 0, axis=1)
