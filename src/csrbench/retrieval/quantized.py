"""Exact search over a codec's stored words, without decoding the database to float32.

A codec (`csrbench.codecs`) stores each value as a word that decodes per coordinate c
as `offset[c] + scale[c] * word` (sq8/sq4: lo + step * word; bin: low + (high - low) *
bit; f16: the half float itself). The inner product of a float32 query q with a
decoded row is therefore

    sum_c q_c * offset_c  +  sum_c (q_c * scale_c) * word_c,

a per-query constant plus the inner product of a rescaled query with the raw words.
Folding the tables into the query lets a search read the words as they are stored
(1 byte, half a byte or a bit per value) instead of 4-byte floats, which is what a
quantized index is for: less memory, and less of it to stream per query. Scores equal
the inner products with `book.decode(q)` up to float32 rounding (the sum is formed in
another order), so every result here is checked against that decode in the tests.

Backends, by code kind:

- sparse (f16, sq8, sq4): the `inverted` engine (numba; `inverted-torch` where numba
  is missing) over `SparseCodes(indices, words)`. For sq8/sq4 the postings hold the
  1-byte words and the query carries step[j] at latent j (lo is 0 for sparse codes, so
  word 0 is exactly an inactive slot, which the index skips). For f16 the postings hold
  the half floats widened to float32: numba has no float16 arrays on the CPU, and the
  widening is exact, so only the memory saving is lost, not accuracy.
- dense sq8/sq4/f16: faiss `IndexScalarQuantizer` (QT_8bit / QT_4bit / QT_fp16,
  inner product) whose code array is our `Quantized.pack()` bytes and whose `trained`
  table is set from our codebook, so faiss's decoder reproduces ours (see
  `faiss_tables`). `torch` (chunked matmul over words unpacked a chunk at a time) is
  the fallback where faiss is missing, and the only backend for `bin`, which faiss's
  scalar quantizer has no counterpart for.

Ties: every backend keeps the common rule (higher score, then lower id; see
`retrieval.base`) for the scores it computes. faiss's scanner does not fix which of
equal scores it keeps, so it is asked for k + 1 and rows tied across the end are
searched deeper (`_search_faiss`). Ties are exact ties of faiss's float32 scores: its
decoder, vmin + (code + 0.5) / (2^b - 1) * vdiff, rounds differently from lo + code *
step, so two documents whose decoded inner products are exactly equal (e.g. integer
words against integer queries) can come out one ulp apart and then in either order.
Identical codes always tie, and keep the lower id first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

import numpy as np
import torch

from csrbench.codecs import Codebook, Quantized
from csrbench.codes import SparseCodes
from csrbench.devices import resolve_device
from csrbench.retrieval._topk import pad_results, topk_over_chunks
from csrbench.retrieval.base import (
    ENGINES,
    Database,
    Engine,
    SearchResult,
    as_codes,
    as_dense,
    make_engine,
    sort_results,
)
from csrbench.retrieval.dense import TIE_BATCH, _faiss

SPARSE_BACKENDS = ("inverted", "inverted-torch")
DENSE_BACKENDS = ("faiss", "torch")
UNIFORM = ("sq8", "sq4")


def _faiss_available() -> bool:
    try:
        _faiss()
    except ImportError:
        return False
    return True


def backends(codec: str, sparse: bool) -> list[str]:
    """Backends that can search `codec`'s words of this kind here, preferred first."""
    if sparse:
        return [name for name in SPARSE_BACKENDS if ENGINES[name].available()]
    if codec == "bin":
        return ["torch"]
    return (["faiss"] if _faiss_available() else []) + ["torch"]


def fold_tables(book: Codebook) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(scale, offset) float32 [width] with decode = offset + scale * word, None where the
    codec needs none (f16 words are their own values: scale 1, offset 0)."""
    t = book.tables
    if book.codec in UNIFORM:
        return t["step"], t["lo"]
    if book.codec == "bin":
        return (t["high"] - t["low"]).astype(np.float32), t["low"]
    if book.codec == "f16":
        return None, None
    raise ValueError(f"no quantized search for codec {book.codec!r}")


def faiss_tables(book: Codebook) -> np.ndarray:
    """faiss's `ScalarQuantizer.trained` for our uniform codebook: [vmin (d), vdiff (d)].

    faiss's non-uniform b-bit decoder is vmin + (code + 0.5) / (2^b - 1) * vdiff
    (faiss/impl/scalar_quantizer/codecs.h and quantizers.h), ours lo + code * step, so
    vdiff = (2^b - 1) * step and vmin = lo - step / 2 make the two agree for every code.
    """
    lo = book.tables["lo"].astype(np.float64)
    step = book.tables["step"].astype(np.float64)
    vmin, vdiff = lo - step / 2, (2**book.value_bits - 1) * step
    return np.concatenate([vmin, vdiff]).astype(np.float32)


def unpack_words(packed: torch.Tensor, codec: str, bits: int, d: int) -> torch.Tensor:
    """float32 [c, d]: the words of packed dense rows uint8 [c, bytes] (f16: the half
    floats), not yet scaled. Bits are read least significant first, as `bitpack` packs."""
    if codec == "f16":
        return packed.view(torch.float16)[:, :d].float()
    if bits == 8:
        return packed[:, :d].float()
    shifts = torch.arange(0, 8, bits, dtype=torch.uint8, device=packed.device)
    words = (packed.unsqueeze(-1) >> shifts) & (2**bits - 1)
    return words.reshape(packed.shape[0], -1)[:, :d].float()


def scan_words(
    packed: torch.Tensor,
    queries: torch.Tensor,
    k: int,
    *,
    codec: str,
    bits: int,
    d: int,
    scale: torch.Tensor | None,
    offset: torch.Tensor | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k (tie rule included) of float32 queries [nq, d] against packed dense
    rows, unpacking `chunk` rows at a time: (q * scale) @ words^T + q @ offset."""
    qs = queries if scale is None else queries * scale
    const = None if offset is None else queries @ offset

    def blocks() -> Iterator[tuple[int, torch.Tensor]]:
        for start in range(0, packed.shape[0], chunk):
            block = qs @ unpack_words(packed[start : start + chunk], codec, bits, d).T
            yield start, block if const is None else block + const[:, None]

    return topk_over_chunks(blocks(), k)


class QuantizedIndex:
    """An exact inner-product index over a codec's words, built from its `Codebook`.

    `build(q)` takes the `Quantized` database the codebook encoded; `search(queries, k)`
    takes float32 queries (dense [nq, width], or SparseCodes for sparse codes) and
    returns what `Engine.search` does, with scores equal to the inner products with
    `book.decode(q)`. `engine` picks the backend (`backends(codec, sparse)`, default
    the first); `options` go to the inverted engine's constructor (e.g. threads).
    """

    def __init__(
        self,
        book: Codebook,
        engine: str | None = None,
        *,
        device: str | torch.device | None = "auto",
        chunk: int | None = None,
        query_batch: int = 512,
        **options: Any,
    ) -> None:
        allowed = backends(book.codec, book.sparse)
        known = SPARSE_BACKENDS if book.sparse else DENSE_BACKENDS
        if engine is not None and engine not in known:
            kind = "sparse" if book.sparse else "dense"
            raise ValueError(f"no backend {engine!r} for {kind} codes; known: {list(known)}")
        if engine is not None and engine not in allowed:
            raise RuntimeError(f"backend {engine!r} cannot search {book.codec} codes here")
        self.book = book
        self.engine_name = engine or allowed[0]
        self.device = resolve_device(device)
        self.chunk = chunk or (1 << 20 if self.device.type == "cuda" else 1 << 16)
        self.query_batch = query_batch
        self.options = options
        scale, offset = fold_tables(book)
        self._scale, self._offset = scale, offset
        self.engine: Engine | None = None  # the inverted engine (sparse)
        self.faiss_index: Any = None  # faiss IndexScalarQuantizer (dense, "faiss")
        self._packed: torch.Tensor | None = None  # packed rows (dense, "torch")
        self._n = 0
        self._bytes = 0

    # ------------------------------------------------------------------ build

    def build(self, q: Quantized) -> Self:
        """Index the words of `q` (encoded by this index's codebook); returns self."""
        book = self.book
        if (q.codec, q.width, q.sparse) != (book.codec, book.width, book.sparse):
            raise ValueError(
                f"cannot index {q.codec} codes of width {q.width} (sparse={q.sparse}) "
                f"with the {book.codec} codebook of width {book.width} (sparse={book.sparse})"
            )
        if q.n == 0:
            raise ValueError("the quantized database is empty (0 rows)")
        if q.sparse:
            held = self._build_sparse(q)
        elif self.engine_name == "faiss":
            held = self._build_faiss(q.pack())
        else:
            self._packed = torch.from_numpy(q.pack()).to(self.device)
            held = self._packed.numel()
        self._n = q.n
        self._bytes = held + book.index_bytes
        return self

    def _build_sparse(self, q: Quantized) -> int:
        assert q.indices is not None
        if self.book.codec in UNIFORM:
            if np.any(self.book.tables["lo"] != 0):
                raise ValueError(
                    "sparse codes quantized with lo != 0 (negative training values) cannot "
                    "be searched as words: word 0 would not be an inactive slot"
                )
            values = np.ascontiguousarray(q.words, dtype=np.uint8)
        else:  # f16: the half floats themselves (the engine widens them to float32)
            values = np.asarray(q.words, dtype=np.uint16).view(np.float16)
        opts = dict(self.options)
        if self.engine_name == "inverted-torch":
            opts.setdefault("device", self.device)
        self.engine = make_engine(self.engine_name, **opts)
        self.engine.build(SparseCodes(indices=q.indices, values=values, h=q.width))
        return self.engine.index_bytes

    def _build_faiss(self, packed: np.ndarray) -> int:
        faiss = _faiss()
        qtypes = {
            "sq8": faiss.ScalarQuantizer.QT_8bit,
            "sq4": faiss.ScalarQuantizer.QT_4bit,
            "f16": faiss.ScalarQuantizer.QT_fp16,
        }
        d = self.book.width
        index = faiss.IndexScalarQuantizer(d, qtypes[self.book.codec], faiss.METRIC_INNER_PRODUCT)
        if index.code_size != packed.shape[1]:  # same layout, or the bytes mean other words
            raise RuntimeError(
                f"faiss stores {index.code_size} bytes per {self.book.codec} row of d={d}, "
                f"our packing {packed.shape[1]}"
            )
        if self.book.codec in UNIFORM:
            faiss.copy_array_to_vector(faiss_tables(self.book), index.sq.trained)
        faiss.copy_array_to_vector(packed.ravel(), index.codes)
        index.ntotal = packed.shape[0]
        index.is_trained = True
        self.faiss_index = index
        return packed.size

    # ------------------------------------------------------------------ search

    def search(self, queries: Database, k: int) -> SearchResult:
        """Exact top-k of every query row against the decoded database (see module)."""
        if self._n == 0:
            raise RuntimeError("build() the quantized index before searching")
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        k = int(k)
        if self.book.sparse:
            return self._search_sparse(queries, k)
        q = as_dense(queries)
        if q.shape[1] != self.book.width:
            raise ValueError(f"query width {q.shape[1]} != database width {self.book.width}")
        if self.faiss_index is not None:
            return self._search_faiss(q, k)
        assert self._packed is not None
        return self._scan(self._packed, q, k)

    def _search_sparse(self, queries: Database, k: int) -> SearchResult:
        assert self.engine is not None
        codes = as_codes(queries)
        if codes.h != self.book.width:
            raise ValueError(f"query width {codes.h} != database width {self.book.width}")
        if self._scale is not None:  # step[j] moves from every posting into the query
            values = codes.values.astype(np.float32) * self._scale[codes.indices.astype(np.int64)]
            codes = SparseCodes(indices=codes.indices, values=values, h=codes.h)
        return self.engine.search(codes, k)

    @torch.inference_mode()
    def _scan(self, packed: torch.Tensor, q: np.ndarray, k: int) -> SearchResult:
        """The torch backend: query batches against the packed rows on their device."""
        dev = packed.device
        scale = None if self._scale is None else torch.from_numpy(self._scale).to(dev)
        offset = None if self._offset is None else torch.from_numpy(self._offset).to(dev)
        q_all = torch.from_numpy(q).to(dev)
        parts = [
            scan_words(
                packed,
                q_all[a : a + self.query_batch],
                k,
                codec=self.book.codec,
                bits=self.book.value_bits,
                d=self.book.width,
                scale=scale,
                offset=offset,
                chunk=self.chunk,
            )
            for a in range(0, q_all.shape[0], self.query_batch)
        ]
        scores = torch.cat([s.cpu() for s, _ in parts]).numpy()
        return scores, torch.cat([i.cpu() for _, i in parts]).numpy()

    def _faiss_search(self, q: np.ndarray, kk: int) -> SearchResult:
        """faiss's top-kk, sorted by (score desc, id asc), padding as -inf / -1."""
        scores, ids = self.faiss_index.search(q, kk)
        ids = ids.astype(np.int64, copy=False)
        return sort_results(np.where(ids < 0, -np.inf, scores).astype(np.float32), ids)

    def _search_faiss(self, q: np.ndarray, k: int) -> SearchResult:
        """faiss's scanner keeps an arbitrary one of equal scores at the k-th place, so
        the search asks for more than k: a row whose last score is below its k-th has
        its top-k set fixed and sorting applies the tie rule; a row tied across the end
        is searched again with twice the depth (up to every document), in faiss's own
        arithmetic, so that ties are ties of the scores it returns."""
        n = self._n
        kk = min(k + 1, n)
        scores, ids = self._faiss_search(q, kk)
        if kk <= k:
            s, i = pad_results(torch.from_numpy(scores), torch.from_numpy(ids), k)
            return s.numpy(), i.numpy()
        tied = np.flatnonzero(scores[:, k - 1] == scores[:, kk - 1])
        scores, ids = scores[:, :k].copy(), ids[:, :k].copy()
        # a few hundred rows at a time: coarse words can tie on every row, and faiss's
        # [rows x depth] results at the whole database's depth would not fit for them all
        for start in range(0, len(tied), TIE_BATCH):
            rows, depth = tied[start : start + TIE_BATCH], kk
            while rows.size and depth < n:
                depth = min(2 * depth, n)
                s, i = self._faiss_search(q[rows], depth)
                scores[rows], ids[rows] = s[:, :k], i[:, :k]
                rows = rows[s[:, k - 1] == s[:, depth - 1]]
        return scores, ids

    # ------------------------------------------------------------------ facts

    @property
    def n(self) -> int:
        """Number of indexed documents."""
        return self._n

    @property
    def dim(self) -> int:
        """Width of the vectors searched (d for dense, h for sparse)."""
        return self.book.width

    @property
    def index_bytes(self) -> int:
        """Bytes the index holds: the stored words (or postings) plus the codebook."""
        return self._bytes

    @property
    def bytes_per_doc(self) -> float:
        return self.index_bytes / max(self._n, 1)


def search_quantized(
    book: Codebook,
    q: Quantized,
    queries: Database,
    k: int,
    engine: str | None = None,
    **options: Any,
) -> SearchResult:
    """Build a `QuantizedIndex` on `q` and return the top-k of every query row."""
    return QuantizedIndex(book, engine, **options).build(q).search(queries, k)
