"""Sparse search on GPU by one fused Triton kernel: gather, score and top-k per block.

Fixed-k codes are an ELL matrix: every document holds exactly k (latent, value) slots.
The index stores them slot-major, `[k, n]` ids and values, so that for slot j a block
of documents reads contiguous memory. One program scores a block of `block_q` queries
against a block of `block_d` documents: for each slot it gathers the queries' values
at the documents' latents (the dense query block, [block_q, h], stays in L2) and
accumulates, then packs (score, id) into the tie-exact int64 keys of `_topk` and keeps
the block's top-K in registers. Only those candidates leave the kernel, so the
[queries x documents] score matrix that `torch` and `torch-csr` write and re-read
never exists; a torch top-k over the candidates finishes the batch.

Programs that share a document block are adjacent in the launch order (queries are
the fast grid axis), so a database block is read from memory about once per batch:
the floor is the index once per batch, as for `torch-csr`. Work still grows with
n * k * queries (gathers from L2), which is what an inverted index avoids; this engine
is the scan done without materialising scores.

It runs where Triton has a GPU. With `TRITON_INTERPRET=1` Triton runs the same kernel
on CPU through its interpreter, which is how the tests check it against exact search
(far too slow to time).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

import numpy as np
import torch

from csrbench.codes import SparseCodes
from csrbench.retrieval._topk import MAX_IDS, decode_keys, topk_keys
from csrbench.retrieval.base import (
    Database,
    SearchResult,
    TorchEngine,
    as_codes,
    register_engine,
)


def _interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def _kernel(interpreted: bool) -> Any:
    """The jitted kernel, built on first use: Triton decides at decoration time whether
    it compiles for the GPU or runs in the interpreter."""
    import triton
    import triton.language as tl

    @triton.jit
    def ell_scan_topk(
        q_ptr,  # [nq, h] float32 dense queries
        idx_ptr,  # [k, stride] int32 latent of slot j of each document
        val_ptr,  # [k, stride] float32 value of slot j of each document
        out_ptr,  # [nq, n_blocks, TOPK] int64 candidate keys
        nq,
        n,  # documents in this launch (from the pointers' start)
        h,
        stride,  # documents in the whole index: the distance between slots
        id_offset,  # database id of this launch's first document
        n_blocks,
        K: tl.constexpr,
        BQ: tl.constexpr,
        BD: tl.constexpr,
        TOPK: tl.constexpr,
    ):
        pid_q = tl.program_id(0)
        pid_d = tl.program_id(1)
        q = pid_q * BQ + tl.arange(0, BQ)
        d = pid_d * BD + tl.arange(0, BD)
        qm = q < nq
        dm = d < n
        both = qm[:, None] & dm[None, :]
        rows = q.to(tl.int64)[:, None] * h
        acc = tl.zeros((BQ, BD), dtype=tl.float32)
        for j in range(K):
            ids = tl.load(idx_ptr + j * stride + d, mask=dm, other=0)
            vals = tl.load(val_ptr + j * stride + d, mask=dm, other=0.0)
            gathered = tl.load(q_ptr + rows + ids[None, :], mask=both, other=0.0)
            acc += gathered * vals[None, :]
        # _topk.pack_keys: order-preserving int32 of the float (-0.0 folded onto +0.0)
        # in the high half, 0xFFFFFFFF - id in the low half (lower id wins a tie)
        acc = tl.where(dm[None, :], acc + 0.0, float("-inf"))
        bits = acc.to(tl.int32, bitcast=True)
        bits = bits ^ ((bits >> 31) & 0x7FFFFFFF)
        doc = (id_offset + d).to(tl.int64)
        keys = (bits.to(tl.int64) << 32) | (0xFFFFFFFF - doc)[None, :]
        top = tl.topk(keys, TOPK, dim=1)
        cols = tl.arange(0, TOPK)
        out = out_ptr + (q.to(tl.int64)[:, None] * n_blocks + pid_d) * TOPK + cols[None, :]
        tl.store(out, top, mask=qm[:, None])

    return ell_scan_topk


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


@register_engine
class EllTriton(TorchEngine):
    """Fixed-k codes scanned by the fused Triton kernel; the top-K per document block is
    kept on chip and merged by a torch top-k over the candidates."""

    name = "ell-triton"
    kind = "sparse"
    max_rows = MAX_IDS

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        block_q: int = 16,
        block_d: int = 256,
        chunk: int = 1 << 21,
        query_batch: int = 512,
    ) -> None:
        super().__init__("cpu" if _interpreted() and device == "auto" else device)
        if self.device.type != "cuda" and not _interpreted():
            raise RuntimeError(
                "ell-triton runs on a CUDA GPU (or on CPU in Triton's interpreter, "
                "TRITON_INTERPRET=1, for tests); use 'inverted' on this machine"
            )
        for name, value in (("block_q", block_q), ("block_d", block_d)):
            if value < 1 or value & (value - 1):
                raise ValueError(f"ell-triton: {name} must be a power of two, got {value}")
        self.block_q, self.block_d = block_q, block_d
        self.chunk = max(block_d, chunk // block_d * block_d)  # whole blocks per launch
        self.query_batch = query_batch

    @classmethod
    def available(cls) -> bool:
        """Triton installed, and a GPU for it (or its CPU interpreter switched on)."""
        if importlib.util.find_spec("triton") is None:
            return False
        return _interpreted() or torch.cuda.is_available()

    def _build(self, data: SparseCodes) -> int:
        self._idx = torch.from_numpy(np.ascontiguousarray(data.indices.T, dtype=np.int32))
        self._val = torch.from_numpy(np.ascontiguousarray(data.values.T, dtype=np.float32))
        self._idx, self._val = self._idx.to(self.device), self._val.to(self.device)
        self._k = data.k
        return self._idx.numel() * 4 + self._val.numel() * 4

    @torch.inference_mode()
    def _search(self, queries: Database, k: int) -> SearchResult:
        if k > self.block_d:
            raise ValueError(
                f"ell-triton returns at most block_d = {self.block_d} results, got k={k}"
            )
        codes = as_codes(queries)
        if codes.h > self.dim:
            raise ValueError(f"queries have {codes.h} latents, the index {self.dim}")
        scores, ids = [], []
        for start in range(0, codes.n, self.query_batch):
            stop = min(start + self.query_batch, codes.n)
            s, i = self._search_batch(codes.indices[start:stop], codes.values[start:stop], k)
            scores.append(s.cpu())
            ids.append(i.cpu())
        return torch.cat(scores).numpy(), torch.cat(ids).numpy()

    def _search_batch(
        self, q_idx: np.ndarray, q_val: np.ndarray, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        nq = q_idx.shape[0]
        q = torch.zeros(nq, self.dim, dtype=torch.float32, device=self.device)
        q.scatter_(
            1,
            torch.from_numpy(q_idx.astype(np.int64)).to(self.device),
            torch.from_numpy(q_val.astype(np.float32)).to(self.device),
        )
        topk = _next_pow2(k)
        kernel = _kernel(_interpreted())
        best: torch.Tensor | None = None
        for start in range(0, self.n, self.chunk):
            n = min(self.chunk, self.n - start)
            blocks = -(-n // self.block_d)
            out = torch.empty(nq, blocks, topk, dtype=torch.int64, device=self.device)
            grid = (-(-nq // self.block_q), blocks)
            kernel[grid](
                q, self._idx[:, start:], self._val[:, start:], out,
                nq, n, self.dim, self.n, start, blocks,
                K=self._k, BQ=self.block_q, BD=self.block_d, TOPK=topk,
            )  # fmt: skip
            keys = out.view(nq, -1)
            best = topk_keys(keys if best is None else torch.cat([best, keys], 1), k)
        assert best is not None
        scores, ids = decode_keys(best)
        empty = ids >= self.n  # blocks with fewer than TOPK documents pad with -inf
        return scores.masked_fill(empty, float("-inf")), ids.masked_fill(empty, -1)

    def floor_bytes(self, batch: Database) -> dict[str, float]:
        """The ELL index once per batch (int32 id and float32 value per slot): the
        programs of one document block run side by side and share its reads."""
        self._require_built()
        return {"floor_bytes": float(self.index_bytes)}
