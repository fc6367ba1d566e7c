"""Fixed-k sparse codes: the storage format every sparse method writes and every
sparse engine reads.

A code of n rows with k active latents out of h is two [n, k] arrays: latent
indices (int16 when h <= 32768, else int32) and their values (float16 or float32).
Bytes per document are therefore k * (index bytes + value bytes), e.g. 4 bytes per
active dim with int16 + fp16. Rows keep exactly k slots; a slot whose value is 0
is an inactive latent (ReLU after TopK can zero a selected pre-activation), and
indices within a row are distinct.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from csrbench.atomic import atomic_path


def index_dtype(h: int) -> np.dtype:
    """The narrowest index type that can address h latents."""
    return np.dtype(np.int16) if h <= 32768 else np.dtype(np.int32)


@dataclass(frozen=True)
class SparseCodes:
    indices: np.ndarray  # [n, k] int16/int32, distinct per row
    values: np.ndarray  # [n, k] float16/float32, >= 0
    h: int

    def __post_init__(self) -> None:
        if self.indices.shape != self.values.shape or self.indices.ndim != 2:
            raise ValueError(
                f"indices {self.indices.shape} and values {self.values.shape} must be equal [n, k]"
            )

    @property
    def n(self) -> int:
        return self.indices.shape[0]

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    @property
    def bytes_per_row(self) -> int:
        return self.k * (self.indices.dtype.itemsize + self.values.dtype.itemsize)

    @classmethod
    def from_torch(
        cls, indices: torch.Tensor, values: torch.Tensor, h: int, value_dtype: str = "float32"
    ) -> SparseCodes:
        return cls(
            indices=indices.cpu().numpy().astype(index_dtype(h)),
            values=values.detach().float().cpu().numpy().astype(value_dtype),
            h=h,
        )

    def to_dense(self) -> np.ndarray:
        """[n, h] float32; for tests and small sets only."""
        out = np.zeros((self.n, self.h), dtype=np.float32)
        np.put_along_axis(out, self.indices.astype(np.int64), self.values.astype(np.float32), 1)
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write `.npz` atomically (temporary name, then rename)."""
        with atomic_path(path) as tmp:
            np.savez(tmp, indices=self.indices, values=self.values, h=np.int64(self.h))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SparseCodes:
        with np.load(path) as z:
            return cls(indices=z["indices"], values=z["values"], h=int(z["h"]))
