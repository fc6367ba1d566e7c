"""Inverted-index search over fixed-k sparse codes.

A document with latents {j} appears in the posting list of each j; a query then only
reads the posting lists of its own active latents, so its cost is the total length of
those lists (about n * sum_j p_j^2 for latent usage frequencies p, i.e. n*k^2/h when
usage is uniform) instead of n * k for a forward scan of every document.

Two engines share the idea:

`inverted` (numba, the fast one): postings are cut into document blocks of 65,536 so a
posting stores a uint16 local doc id + a float32 value (6 bytes) and the per-thread
score accumulator of one block (256 KiB) stays in L2. A latent's list stays contiguous
across blocks (layout "latent"; "block" keeps a block's lists together instead, which
measured slower), with an offset per (latent, block). Per query and block, the kernel
scatter-adds the block's part of each of the query's posting lists, then scans the
accumulator once, feeding a K-slot heap and zeroing it; scoring and top-K are fused
and no [n_queries, n_docs] matrix ever exists. Queries are handed to threads
dynamically (numba prange, chunk size 1), each with its own accumulator and heap.
Measured on 2 cores (Xeon, AVX-512): ~1.0-1.1 ns per posting per core including the
scan, about twice the cost of merely streaming the same postings (0.45 ns); an
L1-resident accumulator did not make the scatter cheaper, and smaller blocks or scoring
several queries per block pass (to share cached postings) were slower.

`inverted-torch` (pure torch, also on CUDA): posting lists per latent over the whole
database (int32 doc ids sorted within a list, CSR-style offsets). Queries are grouped
so that a group's gathered postings and its [group, n] accumulator fit a memory budget;
the accumulator is allocated once and reused across groups; each group is one gather +
index_add_ + tie-exact torch.topk.

Tie rule: the numba kernel scans scores in increasing doc id and a doc enters a full
heap only with a strictly higher score than the heap's worst, whose order is (score,
then higher id = worse); so equal scores keep the lower ids, as in every other engine
(`inverted-torch` gets the same from the shared tie-exact top-k in `_topk`).
Documents sharing no latent with the query score exactly 0 and take part like any
other (with few matches, the top-K is padded by the lowest-id zero-score documents,
just as exact dense search would do).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch

from csrbench.codes import SparseCodes
from csrbench.devices import torch_threads
from csrbench.retrieval._topk import MAX_IDS, block_topk_keys, decode_keys, pad_results
from csrbench.retrieval.base import (
    Database,
    Engine,
    SearchResult,
    TorchEngine,
    as_codes,
    register_engine,
)

try:  # numba is optional: without it only the torch engines run
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised where numba is absent
    HAVE_NUMBA = False

BLOCK = 1 << 16  # docs per block: local ids fit uint16


def _nonzero_postings(codes: SparseCodes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc int64, latent int64, value) of every nonzero slot, doc-major order. Values
    are float32, except integer values (a codec's quantized words), which keep their
    dtype so that the postings store them at their own width (the search scales them)."""
    val = codes.values
    if not np.issubdtype(val.dtype, np.integer):
        val = val.astype(np.float32, copy=False)
    keep = val != 0
    doc = np.broadcast_to(np.arange(codes.n, dtype=np.int64)[:, None], val.shape)[keep]
    lat = codes.indices[keep].astype(np.int64)
    return doc, lat, val[keep]


def _query_arrays(queries: Database, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries as (latent int32 [nq, kq], weight float32 [nq, kq]); dense rows allowed."""
    codes = as_codes(queries)
    if codes.h != h:
        raise ValueError(f"query width {codes.h} != database width {h}")
    return (
        np.ascontiguousarray(codes.indices, dtype=np.int32),
        np.ascontiguousarray(codes.values, dtype=np.float32),
    )


def posting_list_lengths(codes: SparseCodes) -> np.ndarray:
    """int64 [h]: how many documents use each latent (nonzero slots only)."""
    val = codes.values
    return np.bincount(codes.indices[val != 0].astype(np.int64), minlength=codes.h)


def postings_touched(lengths: np.ndarray, queries: Database) -> np.ndarray:
    """int64 [nq]: total posting-list length a query-at-a-time engine reads per query."""
    qi, qv = _query_arrays(queries, len(lengths))
    return np.where(qv != 0, lengths[qi.astype(np.int64)], 0).sum(axis=1)


class InvertedEngine(Engine):
    """What both inverted engines share: the postings of the nonzero slots as input to
    `_index`, the posting-list lengths, and the floor of a query-at-a-time traversal."""

    kind = "sparse"
    posting_bytes: int  # bytes one stored posting takes (doc id + value), set by build
    lengths: np.ndarray  # int64 [h]: documents per latent (nonzero slots), set by build

    def _build(self, data: SparseCodes) -> int:
        doc, lat, val = _nonzero_postings(data)
        self.lengths = np.bincount(lat, minlength=data.h)
        return self._index(doc, lat, val, data.n, data.h)

    @abstractmethod
    def _index(self, doc: np.ndarray, lat: np.ndarray, val: np.ndarray, n: int, h: int) -> int:
        """Build the posting lists of (doc, latent, value) postings, doc-major; the bytes held."""

    def floor_bytes(self, batch: Database) -> dict[str, float]:
        """The posting lists of each query's active latents, summed over the batch's
        queries; "index_once_bytes" reads each list the batch touches once (the bound a
        batch-shared traversal could approach)."""
        self._require_built()
        touched = postings_touched(self.lengths, batch)
        q = as_codes(batch)
        used = np.unique(q.indices[q.values != 0].astype(np.int64))
        return {
            "floor_bytes": float(touched.sum() * self.posting_bytes),
            "index_once_bytes": float(self.lengths[used].sum() * self.posting_bytes),
            "postings_per_query": float(touched.mean()),
        }


# --------------------------------------------------------------------------- numba engine

if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _worse(s_a: float, i_a: int, s_b: float, i_b: int) -> bool:
        return s_a < s_b or (s_a == s_b and i_a > i_b)

    @njit(cache=True, nogil=True)
    def _sift_down(hs, hi, pos, size):  # type: ignore[no-untyped-def]
        s, i = hs[pos], hi[pos]
        while True:
            child = 2 * pos + 1
            if child >= size:
                break
            if child + 1 < size and _worse(hs[child + 1], hi[child + 1], hs[child], hi[child]):
                child += 1
            if _worse(hs[child], hi[child], s, i):
                hs[pos], hi[pos] = hs[child], hi[child]
                pos = child
            else:
                break
        hs[pos], hi[pos] = s, i

    @njit(cache=True, nogil=True)
    def _sift_up(hs, hi, pos):  # type: ignore[no-untyped-def]
        s, i = hs[pos], hi[pos]
        while pos > 0:
            parent = (pos - 1) // 2
            if _worse(s, i, hs[parent], hi[parent]):
                hs[pos], hi[pos] = hs[parent], hi[parent]
                pos = parent
            else:
                break
        hs[pos], hi[pos] = s, i

    @njit(cache=True, nogil=True)
    def _scan_block(acc, nb, base, hs, hi, size, k):  # type: ignore[no-untyped-def]
        """Feed acc[:nb] (docs base..base+nb-1) into the heap, then zero acc[:nb].

        Slices of 256 are first tested with a branch-free count (which vectorises;
        most slices hold no doc above the heap's worst) and only slices with a hit
        are walked one doc at a time.
        """
        i = 0
        while size < k and i < nb:
            hs[size] = acc[i]
            hi[size] = base + i
            _sift_up(hs, hi, size)
            size += 1
            i += 1
        if size == k:
            thr = hs[0]
            while i < nb:
                sub = acc[i : min(i + 256, nb)]
                hits = 0
                for x in range(sub.shape[0]):
                    if sub[x] > thr:
                        hits += 1
                if hits:
                    for x in range(sub.shape[0]):
                        v = sub[x]
                        if v > thr:  # strict: a later (higher) id never displaces a tie
                            hs[0] = v
                            hi[0] = base + i + x
                            _sift_down(hs, hi, 0, k)
                            thr = hs[0]
                i += sub.shape[0]
        acc[:nb] = 0.0
        return size

    @njit(cache=True, parallel=True, nogil=True)
    def _search_blocked(  # type: ignore[no-untyped-def]
        q_idx, q_val, offsets, sj, sb, post_ids, post_vals, n, block, k, out_s, out_i, unit
    ):
        """Queries in units of `unit`, handed to threads dynamically (the caller sets
        numba's parallel chunk size to 1). A unit walks the document blocks once and
        scores all its queries on each block before moving on, so a posting segment
        that several of its queries share is read from memory once and from cache after."""
        nq, kq = q_idx.shape
        n_blocks = (n + block - 1) // block
        n_units = (nq + unit - 1) // unit
        for u in prange(n_units):
            q0 = u * unit
            m = min(unit, nq - q0)
            acc = np.zeros((m, block), dtype=np.float32)
            hs = np.empty((m, k), dtype=np.float32)
            hi = np.empty((m, k), dtype=np.int64)
            sizes = np.zeros(m, dtype=np.int64)
            for b in range(n_blocks):
                base = b * block
                nb = min(block, n - base)
                for r in range(m):
                    q = q0 + r
                    a = acc[r]
                    for s in range(kq):
                        w = q_val[q, s]
                        if w == 0.0:
                            continue
                        key = q_idx[q, s] * sj + b * sb
                        # slices index from 0, which spares the negative-index checks
                        seg_ids = post_ids[offsets[key] : offsets[key + 1]]
                        seg_vals = post_vals[offsets[key] : offsets[key + 1]]
                        for p in range(seg_ids.shape[0]):
                            a[seg_ids[p]] += w * np.float32(seg_vals[p])
                    sizes[r] = _scan_block(a, nb, base, hs[r], hi[r], sizes[r], k)
            for r in range(m):
                q, size, rs, ri = q0 + r, sizes[r], hs[r], hi[r]
                # heap -> row sorted best first: pop the worst into the last free slot
                for pos in range(size - 1, -1, -1):
                    out_s[q, pos] = rs[0]
                    out_i[q, pos] = ri[0]
                    rs[0], ri[0] = rs[pos], ri[pos]
                    _sift_down(rs, ri, 0, pos)
                for pos in range(size, k):
                    out_s[q, pos] = -np.inf
                    out_i[q, pos] = -1

    @njit(cache=True)
    def _build_blocked(doc, lat, val, sj, sb, block, n_keys):  # type: ignore[no-untyped-def]
        """Counting sort of (doc-major) postings by key = latent * sj + block * sb; doc
        ids stay ascending within a key."""
        counts = np.zeros(n_keys + 1, dtype=np.int64)
        for p in range(doc.shape[0]):
            counts[lat[p] * sj + (doc[p] // block) * sb + 1] += 1
        for c in range(1, counts.shape[0]):
            counts[c] += counts[c - 1]
        offsets = counts.copy()
        cursor = counts[:-1].copy()
        ids = np.empty(doc.shape[0], dtype=np.uint16)
        vals = np.empty_like(val)  # the input's dtype: float32, or quantized words
        for p in range(doc.shape[0]):
            key = lat[p] * sj + (doc[p] // block) * sb
            dst = cursor[key]
            ids[dst] = doc[p] % block
            vals[dst] = val[p]
            cursor[key] += 1
        return offsets, ids, vals


@register_engine
class InvertedNumba(InvertedEngine):
    """Blocked inverted index, fused scatter-add + heap top-K, compiled by numba."""

    name = "inverted"
    posting_bytes = 2 + 4  # uint16 local doc id + float32 value (or the words' width)

    def __init__(
        self,
        block: int = BLOCK,
        threads: int | None = None,
        layout: str = "latent",
        unit: int = 1,
    ) -> None:
        super().__init__()
        self.unit = max(1, unit)  # queries per work unit handed to a thread
        if layout not in ("block", "latent"):
            raise ValueError(f"layout must be 'block' or 'latent', got {layout!r}")
        self.layout = layout
        if not 1 <= block <= BLOCK:
            raise ValueError(f"block must be in [1, {BLOCK}] (local ids are uint16)")
        self.block = block
        self.threads = threads

    @classmethod
    def available(cls) -> bool:
        return HAVE_NUMBA

    def _index(self, doc: np.ndarray, lat: np.ndarray, val: np.ndarray, n: int, h: int) -> int:
        n_blocks = max(1, -(-n // self.block))
        # postings of latent j in block b: offsets[key] .. offsets[key + 1], key = j*sj + b*sb
        if self.layout == "latent":  # a latent's list contiguous across blocks
            self._sj, self._sb = n_blocks, 1
        else:  # a block's lists contiguous
            self._sj, self._sb = 1, h
        self._offsets, self._ids, self._vals = _build_blocked(
            doc, lat, val, self._sj, self._sb, self.block, n_blocks * h
        )
        self.posting_bytes = 2 + self._vals.itemsize
        return self._offsets.nbytes + self._ids.nbytes + self._vals.nbytes

    def _search(self, queries: Database, k: int) -> SearchResult:
        qi, qv = _query_arrays(queries, self.dim)
        out_s = np.empty((qi.shape[0], k), dtype=np.float32)
        out_i = np.empty((qi.shape[0], k), dtype=np.int64)
        # numba's OpenMP layer shares the runtime with torch: its thread count would leak
        # into torch's (a tuning job's second fit then ran on every core of the machine,
        # not on its own). Default to the process's torch budget and restore both after.
        budget = torch.get_num_threads()  # first: numba's pool launch can change it
        with torch_threads(budget):
            previous = numba.get_num_threads()
            numba.set_num_threads(min(self.threads or budget, numba.config.NUMBA_NUM_THREADS))
            try:
                with numba.parallel_chunksize(1):
                    _search_blocked(
                        qi,
                        qv,
                        self._offsets,
                        self._sj,
                        self._sb,
                        self._ids,
                        self._vals,
                        self.n,
                        self.block,
                        k,
                        out_s,
                        out_i,
                        self.unit,
                    )
            finally:
                numba.set_num_threads(previous)
        return out_s, out_i


# --------------------------------------------------------------------------- torch engine


@register_engine
class InvertedTorch(InvertedEngine, TorchEngine):
    """Posting lists gathered per query group, index_add_ into a reused accumulator."""

    name = "inverted-torch"
    posting_bytes = 4 + 4  # int32 doc id + float32 value (or the words' width)
    max_rows = MAX_IDS

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        max_postings: int | None = None,
        max_accumulator: int | None = None,
    ) -> None:
        super().__init__(device)
        gpu = self.device.type == "cuda"
        # gathered postings per group (each costs ~28 bytes of temporaries) and floats
        # in the [group, n] accumulator: ~0.5 GiB on CPU, ~4 GiB on GPU
        self.max_postings = max_postings or (1 << 27 if gpu else 1 << 24)
        self.max_accumulator = max_accumulator or (1 << 28 if gpu else 1 << 25)

    def _index(self, doc: np.ndarray, lat: np.ndarray, val: np.ndarray, n: int, h: int) -> int:
        # by latent, doc ids staying ascending; 16-bit keys get numpy's O(n) radix sort
        order = np.argsort(lat.astype(np.uint16) if h <= 1 << 16 else lat, kind="stable")
        offsets = np.zeros(h + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        dev = self.device
        self._offsets = torch.from_numpy(offsets).to(dev)
        self._ids = torch.from_numpy(doc[order].astype(np.int32)).to(dev)
        self._vals = torch.from_numpy(val[order]).to(dev)
        self.posting_bytes = 4 + self._vals.element_size()
        return sum(t.numel() * t.element_size() for t in (self._offsets, self._ids, self._vals))

    def _groups(self, lengths: np.ndarray) -> list[tuple[int, int]]:
        """Consecutive query ranges whose postings and accumulator fit the budgets."""
        per_acc = max(1, self.max_accumulator // max(self.n, 1))
        groups, start, total = [], 0, 0
        for q, length in enumerate(lengths.tolist()):
            if q > start and (total + length > self.max_postings or q - start >= per_acc):
                groups.append((start, q))
                start, total = q, 0
            total += length
        groups.append((start, len(lengths)))
        return groups

    @torch.inference_mode()
    def _search(self, queries: Database, k: int) -> SearchResult:
        qi_np, qv_np = _query_arrays(queries, self.dim)
        dev, n = self.device, self.n
        qi = torch.from_numpy(qi_np.astype(np.int64)).to(dev)
        qv = torch.from_numpy(qv_np).to(dev)
        qv = torch.where(qv != 0, qv, torch.zeros((), device=dev))
        starts = self._offsets[qi]
        lens = torch.where(qv != 0, self._offsets[qi + 1] - starts, 0)  # [nq, kq]
        groups = self._groups(lens.sum(1).cpu().numpy())
        width = max(b - a for a, b in groups)
        acc = torch.zeros(width * n, dtype=torch.float32, device=dev)  # reused
        out_s, out_i = [], []
        for a, b in groups:
            g_len = lens[a:b].reshape(-1)
            total = int(g_len.sum())
            acc_g = acc[: (b - a) * n]
            acc_g.zero_()
            if total:
                # position of every gathered posting: its list start + rank within list
                first = torch.cumsum(g_len, 0) - g_len
                shift = torch.repeat_interleave(starts[a:b].reshape(-1) - first, g_len)
                pos = shift + torch.arange(total, device=dev)
                rows = torch.repeat_interleave(
                    torch.arange(b - a, device=dev).repeat_interleave(qi.shape[1]) * n, g_len
                )
                w = torch.repeat_interleave(qv[a:b].reshape(-1), g_len)
                acc_g.index_add_(0, rows + self._ids[pos], w * self._vals[pos])
            best = block_topk_keys(acc_g.view(b - a, n), k)
            s, i = pad_results(*decode_keys(best), k)
            out_s.append(s.cpu())
            out_i.append(i.cpu())
        return torch.cat(out_s).numpy(), torch.cat(out_i).numpy()
