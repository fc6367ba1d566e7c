"""Exact dense inner-product search: faiss IndexFlatIP and a torch matmul engine.

faiss is the reference the paper's speed numbers use (GPU when faiss sees one). The
torch engine is the second, dependency-light path: it chunks the database so that the
[queries x chunk] score block stays small, keeps a running top-K per query, and runs
on CUDA when torch sees a GPU (where faiss-gpu is often not installed).
"""

from __future__ import annotations

import numpy as np
import torch

from csrbench.retrieval._topk import (
    MAX_IDS,
    decode_keys,
    merge_topk,
    pad_results,
)
from csrbench.retrieval.base import (
    Database,
    Engine,
    SearchResult,
    as_dense,
    register_engine,
    resolve_device,
    sort_results,
)


def _faiss():  # imported lazily: faiss is an optional extra (cpu or gpu build)
    import faiss

    return faiss


def exact_topk(db: torch.Tensor, q: torch.Tensor, k: int, chunk: int) -> SearchResult:
    """Tie-exact top-k of q against db by chunked matmul; padded numpy results."""
    best = None
    for start in range(0, db.shape[0], chunk):
        block = q @ db[start : start + chunk].T
        best = merge_topk(best, block, k, start)
    s, i = pad_results(*decode_keys(best), k)
    return s.cpu().numpy(), i.cpu().numpy()


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
        self.gpu = gpu
        self.chunk = chunk
        self._index = None
        self._cpu_index = None
        self._n = 0
        self._d = 0

    @classmethod
    def available(cls) -> bool:
        try:
            _faiss()
        except ImportError:
            return False
        return True

    @property
    def on_gpu(self) -> bool:
        faiss = _faiss()
        want = self.gpu if self.gpu is not None else True
        return bool(want and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0)

    def build(self, database: Database) -> FaissFlat:
        faiss = _faiss()
        x = as_dense(database)
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        self._cpu_index = index
        if self.on_gpu:
            self._res = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._res, 0, index)
        self._index, self._n, self._d = index, x.shape[0], x.shape[1]
        return self

    def _vectors(self) -> torch.Tensor:
        """The indexed vectors as a zero-copy [n, d] view of the CPU index's storage."""
        faiss = _faiss()
        flat = faiss.rev_swig_ptr(self._cpu_index.get_xb(), self._n * self._d)
        return torch.from_numpy(flat.reshape(self._n, self._d))

    def search(self, queries: Database, k: int) -> SearchResult:
        if self._index is None:
            raise RuntimeError("build() the engine before searching")
        q = as_dense(queries)
        kk = min(k + 1, self._n)
        scores, ids = self._index.search(q, kk)
        ids = ids.astype(np.int64, copy=False)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        scores, ids = sort_results(scores, ids)
        if kk > k:
            tied = scores[:, k - 1] == scores[:, k]
            scores, ids = scores[:, :k].copy(), ids[:, :k].copy()
            if tied.any():
                rows = np.flatnonzero(tied)
                scores[rows], ids[rows] = exact_topk(
                    self._vectors(), torch.from_numpy(q[rows]), k, self.chunk
                )
            return scores, ids
        s, i = pad_results(torch.from_numpy(scores), torch.from_numpy(ids), k)
        return s.numpy(), i.numpy()

    @property
    def n(self) -> int:
        return self._n

    @property
    def dim(self) -> int:
        return self._d

    @property
    def index_bytes(self) -> int:
        return self._n * self._d * 4


@register_engine
class TorchMatmul(Engine):
    """queries @ database chunk^T, then a tie-exact top-K merged across chunks.

    `chunk` rows of the database are scored at a time: 65,536 on CPU keeps the score
    block of a 512-query batch at 128 MiB; on GPU a larger chunk amortises launches.
    """

    name = "torch"
    kind = "dense"

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        chunk: int | None = None,
        query_batch: int = 512,
    ) -> None:
        self.device = resolve_device(device)
        self.chunk = chunk or (1 << 20 if self.device.type == "cuda" else 1 << 16)
        self.query_batch = query_batch
        self._db: torch.Tensor | None = None

    def build(self, database: Database) -> TorchMatmul:
        x = as_dense(database)
        if x.shape[0] >= MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} database rows")
        self._db = torch.from_numpy(x).to(self.device)
        return self

    @torch.inference_mode()
    def search(self, queries: Database, k: int) -> SearchResult:
        if self._db is None:
            raise RuntimeError("build() the engine before searching")
        q_all = torch.from_numpy(as_dense(queries)).to(self.device)
        out_s, out_i = [], []
        for qs in range(0, q_all.shape[0], self.query_batch):
            s, i = exact_topk(self._db, q_all[qs : qs + self.query_batch], k, self.chunk)
            out_s.append(s)
            out_i.append(i)
        return np.concatenate(out_s), np.concatenate(out_i)

    @property
    def n(self) -> int:
        return 0 if self._db is None else self._db.shape[0]

    @property
    def dim(self) -> int:
        return 0 if self._db is None else self._db.shape[1]

    @property
    def index_bytes(self) -> int:
        return 0 if self._db is None else self._db.numel() * 4
