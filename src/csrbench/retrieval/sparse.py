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
from csrbench.retrieval._topk import MAX_IDS, decode_keys, merge_topk, pad_results
from csrbench.retrieval.base import (
    Database,
    Engine,
    SearchResult,
    as_dense,
    register_engine,
    resolve_device,
)


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


def _require_codes(database: Database) -> SparseCodes:
    if not isinstance(database, SparseCodes):
        raise TypeError(
            "sparse engines index SparseCodes; got a dense array "
            "(use a dense engine, or wrap it with retrieval.dense_to_codes)"
        )
    return database


@register_engine
class TorchCSR(Engine):
    """Chunks of the document CSR matrix @ densified queries^T, fused-free baseline."""

    name = "torch-csr"
    kind = "sparse"

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        chunk: int | None = None,
        query_batch: int = 512,
    ) -> None:
        self.device = resolve_device(device)
        self.chunk = chunk or (1 << 20 if self.device.type == "cuda" else 1 << 16)
        self.query_batch = query_batch
        self._chunks: list[tuple[int, torch.Tensor]] = []
        self._n = 0
        self._h = 0
        self._bytes = 0

    def build(self, database: Database) -> TorchCSR:
        codes = _require_codes(database)
        if codes.n >= MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} database rows")
        crow, col, val = codes_to_csr_arrays(codes)
        self._chunks = []
        with warnings.catch_warnings():  # torch's beta notice and invariant-check notice
            warnings.simplefilter("ignore", UserWarning)
            self._build_chunks(codes, crow, col, val)
        return self

    def _build_chunks(
        self, codes: SparseCodes, crow: np.ndarray, col: np.ndarray, val: np.ndarray
    ) -> None:
        for start in range(0, codes.n, self.chunk):
            stop = min(start + self.chunk, codes.n)
            lo, hi = crow[start], crow[stop]
            m = torch.sparse_csr_tensor(
                torch.from_numpy(crow[start : stop + 1] - lo),
                torch.from_numpy(col[lo:hi].astype(np.int64)),
                torch.from_numpy(val[lo:hi]),
                size=(stop - start, codes.h),
                check_invariants=False,
            ).to(self.device)
            self._chunks.append((start, m))
        self._n, self._h = codes.n, codes.h
        self._bytes = crow.nbytes + col.size * 8 + val.nbytes  # as held: int64 columns

    @torch.inference_mode()
    def search(self, queries: Database, k: int) -> SearchResult:
        if not self._chunks:
            raise RuntimeError("build() the engine before searching")
        q_all = torch.from_numpy(as_dense(queries)).to(self.device)
        out_s, out_i = [], []
        for qs in range(0, q_all.shape[0], self.query_batch):
            qt = q_all[qs : qs + self.query_batch].T.contiguous()  # [h, nq]
            best = None
            for start, m in self._chunks:
                block = torch.sparse.mm(m, qt)  # [chunk, nq]
                best = merge_topk(best, block.T, k, start)
            s, i = pad_results(*decode_keys(best), k)
            out_s.append(s.cpu())
            out_i.append(i.cpu())
        return torch.cat(out_s).numpy(), torch.cat(out_i).numpy()

    @property
    def n(self) -> int:
        return self._n

    @property
    def dim(self) -> int:
        return self._h

    @property
    def index_bytes(self) -> int:
        return self._bytes
