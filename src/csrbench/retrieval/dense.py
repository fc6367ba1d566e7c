"""Exact dense inner-product search: faiss IndexFlatIP and a torch matmul engine.

faiss is the reference the paper's speed numbers use (GPU when faiss sees one). The
torch engine is the second, dependency-light path: it chunks the database so that the
[queries x chunk] score block stays small, keeps a running top-K per query, and runs
on CUDA when torch sees a GPU (where faiss-gpu is often not installed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from csrbench.retrieval._topk import pad_results, topk_over_chunks
from csrbench.retrieval.base import (
    ChunkedTorchEngine,
    Database,
    Engine,
    SearchResult,
    as_dense,
    register_engine,
    sort_results,
)


def _faiss():  # imported lazily: faiss is an optional extra (cpu or gpu build)
    import faiss

    return faiss


def _faiss_has_gpu() -> bool:
    faiss = _faiss()
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def exact_topk(
    db: torch.Tensor, q: torch.Tensor, k: int, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tie-exact top-k of q against db by chunked matmul, padded to k columns."""
    blocks = ((start, q @ db[start : start + chunk].T) for start in range(0, db.shape[0], chunk))
    return topk_over_chunks(blocks, k)


# queries recomputed at once where faiss's K-th place is tied: a [512 x chunk] score
# block and its int64 keys stay a few hundred MiB
TIE_BATCH = 512


@register_engine
class FaissFlat(Engine):
    """faiss.IndexFlatIP; moved to GPU 0 when `faiss.get_num_gpus() > 0` and gpu allows.

    faiss does not fix which of several equally scored documents it keeps at the K-th
    place, so it is asked for K + 1: where the K-th and (K+1)-th scores differ the top-K
    set is unique and only needs re-sorting by (score desc, id asc); rows where they are
    equal (exact ties, rare on real embeddings) are recomputed exactly from the stored
    vectors with the common tie rule.
    """

    name = "faiss"
    kind = "dense"

    def __init__(self, gpu: bool | None = None, chunk: int = 1 << 16) -> None:
        super().__init__()
        self.gpu = gpu
        self.chunk = chunk
        self._index = None
        self._cpu_index = None

    @classmethod
    def available(cls) -> bool:
        try:
            _faiss()
        except ImportError:
            return False
        return True

    @classmethod
    def options(cls, device: torch.device) -> dict[str, Any]:
        return {"gpu": device.type == "cuda"}

    @classmethod
    def placement(cls, device: torch.device) -> str:
        return "cuda" if device.type == "cuda" and _faiss_has_gpu() else "cpu"

    @property
    def on_gpu(self) -> bool:
        return (self.gpu is None or self.gpu) and _faiss_has_gpu()

    def _build(self, data: np.ndarray) -> int:
        faiss = _faiss()
        index = faiss.IndexFlatIP(data.shape[1])
        index.add(data)
        self._cpu_index = index
        if self.on_gpu:
            self._res = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._res, 0, index)
        self._index = index
        return data.size * 4

    def _vectors(self) -> torch.Tensor:
        """The indexed vectors as a zero-copy [n, d] view of the CPU index's storage."""
        faiss = _faiss()
        flat = faiss.rev_swig_ptr(self._cpu_index.get_xb(), self.n * self.dim)
        return torch.from_numpy(flat.reshape(self.n, self.dim))

    def _search(self, queries: Database, k: int) -> SearchResult:
        q = as_dense(queries)
        kk = min(k + 1, self.n)
        scores, ids = self._index.search(q, kk)
        ids = ids.astype(np.int64, copy=False)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        scores, ids = sort_results(scores, ids)
        if kk > k:
            tied = scores[:, k - 1] == scores[:, k]
            scores, ids = scores[:, :k].copy(), ids[:, :k].copy()
            # in batches of queries: coarse codes (1-bit, few dims) can tie on every row,
            # and a [queries x chunk] block of int64 keys for all of them would not fit
            rows = np.flatnonzero(tied)
            vectors = self._vectors()  # a zero-copy view: free when nothing is tied
            for start in range(0, len(rows), TIE_BATCH):
                batch = rows[start : start + TIE_BATCH]
                s, i = exact_topk(vectors, torch.from_numpy(q[batch]), k, self.chunk)
                scores[batch], ids[batch] = s.numpy(), i.numpy()
            return scores, ids
        s, i = pad_results(torch.from_numpy(scores), torch.from_numpy(ids), k)
        return s.numpy(), i.numpy()


@register_engine
class TorchMatmul(ChunkedTorchEngine):
    """queries @ database chunk^T, then a tie-exact top-K merged across chunks."""

    name = "torch"
    kind = "dense"

    def _build(self, data: np.ndarray) -> int:
        self._db = torch.from_numpy(data).to(self.device)
        return self._db.numel() * 4

    def _search_batch(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return exact_topk(self._db, q, k, self.chunk)
