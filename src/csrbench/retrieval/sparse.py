"""Sparse search by a torch sparse-CSR product: documents [n, h] CSR times dense queries.

This is the straightforward sparse engine (and the one that runs on GPU through
cuSPARSE): every document's k slots are multiplied with every query of the batch,
then a tie-exact top-K is merged across database chunks. Its work grows with
n * k * n_queries whatever the queries' sparsity, which is why `inverted` exists.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from csrbench.codes import SparseCodes
from csrbench.retrieval._topk import topk_over_chunks
from csrbench.retrieval.base import ChunkedTorchEngine, Database, register_engine


def codes_to_csr_arrays(codes: SparseCodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crow int64 [n+1], col int32 [nnz], values float32 [nnz]) without the value-0 slots.

    Columns are sorted within each row (what CSR consumers such as MKL expect).
    """
    order = np.argsort(codes.indices, axis=1, kind="stable")
    idx = np.take_along_axis(codes.indices, order, 1)
    val = np.take_along_axis(codes.values, order, 1).astype(np.float32, copy=False)
    keep = val != 0
    crow = np.zeros(codes.n + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=crow[1:])
    return crow, idx[keep].astype(np.int32), val[keep]


@register_engine
class TorchCSR(ChunkedTorchEngine):
    """Chunks of the document CSR matrix @ densified queries^T, fused-free baseline."""

    name = "torch-csr"
    kind = "sparse"

    def _build(self, data: SparseCodes) -> int:
        crow, col, val = codes_to_csr_arrays(data)
        self._chunks: list[tuple[int, torch.Tensor]] = []
        with warnings.catch_warnings():  # torch's beta notice and invariant-check notice
            warnings.simplefilter("ignore", UserWarning)
            for start in range(0, data.n, self.chunk):
                stop = min(start + self.chunk, data.n)
                lo, hi = crow[start], crow[stop]
                m = torch.sparse_csr_tensor(
                    torch.from_numpy(crow[start : stop + 1] - lo),
                    torch.from_numpy(col[lo:hi].astype(np.int64)),
                    torch.from_numpy(val[lo:hi]),
                    size=(stop - start, data.h),
                    check_invariants=False,
                ).to(self.device)
                self._chunks.append((start, m))
        self._nnz = col.size
        return crow.nbytes + col.size * 8 + val.nbytes  # as held: int64 columns

    def _search_batch(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        qt = q.T.contiguous()  # [h, nq]
        return topk_over_chunks(((start, torch.sparse.mm(m, qt).T) for start, m in self._chunks), k)

    def floor_bytes(self, batch: Database) -> dict[str, float]:
        """The document CSR once per batch: an int64 column and a float32 value per
        nonzero (the row pointers are left out: a rounding error next to them)."""
        self._require_built()
        return {"floor_bytes": float(self._nnz * (8 + 4))}
