"""Search over a codec's words against an independent brute force over `book.decode(q)`.

Codebooks are fitted on a separate training set whose ranges differ per coordinate, so
every coordinate has its own lo and step: a table folded into the wrong place, a
faiss offset off by half a step or a nibble read in the wrong order changes the scores.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from csrbench.codecs import Codebook, Quantized, codec
from csrbench.codes import SparseCodes
from csrbench.retrieval import ENGINES
from csrbench.retrieval import quantized as qmod
from csrbench.retrieval.quantized import (
    QuantizedIndex,
    backends,
    faiss_tables,
    search_quantized,
)

H, KS, D = 300, 16, 37  # odd d: sq4 and bin rows end in a partial byte
SPARSE_CODECS = ("f16", "sq8", "sq4")
DENSE_CODECS = ("f16", "sq8", "sq4", "bin")
CASES = [(c, True, b) for c in SPARSE_CODECS for b in backends(c, True)] + [
    (c, False, b) for c in DENSE_CODECS for b in backends(c, False)
]


def sparse_codes(n: int, rng: np.random.Generator, scale: np.ndarray) -> SparseCodes:
    """Distinct latents per row, values >= 0 with a per-latent range."""
    idx = np.argsort(rng.random((n, H)), axis=1)[:, :KS]
    vals = rng.random((n, KS)) * scale[idx]
    vals[rng.random((n, KS)) < 0.1] = 0.0  # some inactive slots
    return SparseCodes(indices=idx.astype(np.int16), values=vals.astype(np.float32), h=H)


def dense_codes(n: int, rng: np.random.Generator, shift: np.ndarray, scale: np.ndarray):  # type: ignore[no-untyped-def]
    return (shift + scale * rng.standard_normal((n, D))).astype(np.float32)


def dataset(name: str, sparse: bool, n: int = 1500, nq: int = 40, seed: int = 0):  # type: ignore[no-untyped-def]
    """(book, quantized database, float32 queries, decoded database as dense float32)."""
    rng = np.random.default_rng(seed)
    if sparse:
        scale = rng.uniform(0.2, 3.0, H)
        train, db = sparse_codes(800, rng, scale), sparse_codes(n, rng, scale)
        queries = sparse_codes(nq, rng, np.ones(H))
    else:
        shift, scale = rng.normal(0, 2, D), rng.uniform(0.1, 2.0, D)
        train, db = dense_codes(800, rng, shift, scale), dense_codes(n, rng, shift, scale)
        queries = rng.standard_normal((nq, D)).astype(np.float32)
    book = codec(name).fit(train)
    q = book.encode(db)
    decoded = book.decode(q)
    return book, q, queries, decoded.to_dense() if sparse else decoded


def dense_of(x: np.ndarray | SparseCodes) -> np.ndarray:
    return x.to_dense() if isinstance(x, SparseCodes) else x


def brute_force(decoded: np.ndarray, queries: np.ndarray, k: int):  # type: ignore[no-untyped-def]
    """float64 scores of every document, and the top-k ids by (score desc, id asc)."""
    full = queries.astype(np.float64) @ decoded.astype(np.float64).T
    ids = np.broadcast_to(np.arange(full.shape[1]), full.shape)
    order = np.lexsort((ids, -full), axis=1)[:, :k]
    return full, order


def check_top_k(scores, ids, full, ref_ids, tol):  # type: ignore[no-untyped-def]
    """Scores are the exact top-k; every id carries its score; where the reference
    scores are not tied within `tol`, the ids are the reference's."""
    k = ref_ids.shape[1]
    assert scores.shape == ids.shape == ref_ids.shape
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    ref_s = np.take_along_axis(full, ref_ids, 1)
    np.testing.assert_allclose(scores, ref_s, rtol=0, atol=tol)
    np.testing.assert_allclose(np.take_along_axis(full, ids, 1), scores, rtol=0, atol=tol)
    assert all(len(set(row)) == k for row in ids.tolist())
    gap = np.full(ref_s.shape, np.inf)
    gap[:, 1:] = ref_s[:, :-1] - ref_s[:, 1:]
    gap[:, :-1] = np.minimum(gap[:, :-1], ref_s[:, :-1] - ref_s[:, 1:])
    # the k-th place also needs a gap to the (k+1)-th document
    nxt = np.sort(full, axis=1)[:, ::-1][:, k]
    gap[:, -1] = np.minimum(gap[:, -1], ref_s[:, -1] - nxt)
    clear = gap > 4 * tol
    assert clear.mean() > 0.9  # the data is generic: almost nothing is near-tied
    np.testing.assert_array_equal(ids[clear], ref_ids[clear])


def tolerance(decoded: np.ndarray, queries: np.ndarray) -> float:
    """float32 rounding of a d-term sum, relative to the largest magnitude it sees."""
    return 1e-5 * float((np.abs(queries) @ np.abs(decoded).T).max())


@pytest.mark.parametrize(("name", "sparse", "backend"), CASES)
def test_scores_equal_inner_products_with_the_decoded_codes(
    name: str, sparse: bool, backend: str
) -> None:
    book, q, queries, decoded = dataset(name, sparse)
    index = QuantizedIndex(book, backend).build(q)
    assert index.engine_name == backend and index.n == q.n and index.dim == q.width
    scores, ids = index.search(queries, 10)
    qd = dense_of(queries)
    full, ref_ids = brute_force(decoded, qd, 10)
    check_top_k(scores, ids, full, ref_ids, tolerance(decoded, qd))


@pytest.mark.parametrize("name", SPARSE_CODECS)
def test_sparse_takes_dense_queries_too(name: str) -> None:
    book, q, queries, _ = dataset(name, True, seed=1)
    qd = queries.to_dense()
    s1, i1 = search_quantized(book, q, queries, 7)
    s2, i2 = search_quantized(book, q, qd, 7)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["sq8", "sq4", "f16"])
def test_faiss_index_holds_our_bytes_and_decodes_like_our_codebook(name: str) -> None:
    book, q, _, decoded = dataset(name, False, n=300)
    index = QuantizedIndex(book, "faiss").build(q)
    fi = index.faiss_index
    assert isinstance(fi, faiss.IndexScalarQuantizer) and fi.ntotal == q.n
    np.testing.assert_array_equal(faiss.vector_to_array(fi.codes), q.pack().ravel())
    scale = np.abs(decoded).max()
    np.testing.assert_allclose(fi.reconstruct_n(0, q.n), decoded, rtol=0, atol=1e-6 * scale)
    assert index.index_bytes == q.n * q.bytes_per_doc + book.index_bytes


@pytest.mark.parametrize("name", ["sq8", "sq4"])
def test_faiss_tables_put_the_levels_on_our_grid(name: str) -> None:
    """faiss decodes vmin + (code + 0.5) / (2^b - 1) * vdiff: at every code that is
    lo + code * step, and the vmin offset is half a step (not zero)."""
    book, _, _, _ = dataset(name, False, n=10)
    top = 2**book.value_bits - 1
    trained = faiss_tables(book).astype(np.float64)
    vmin, vdiff = trained[:D], trained[D:]
    codes = np.arange(top + 1, dtype=np.float64)[:, None]
    lo, step = book.tables["lo"], book.tables["step"]
    np.testing.assert_allclose(
        vmin + (codes + 0.5) / top * vdiff, lo + codes * step, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(vmin, lo - step / 2, rtol=1e-6)


@pytest.mark.parametrize("backend", backends("sq8", True))
@pytest.mark.parametrize("name", SPARSE_CODECS)
def test_sparse_postings_store_the_words(name: str, backend: str) -> None:
    book, q, _, _ = dataset(name, True, n=400)
    index = QuantizedIndex(book, backend).build(q)
    engine = index.engine
    assert engine is not None and engine.name == backend
    vals = engine._vals  # the stored posting values
    id_bytes = 2 if backend == "inverted" else 4
    if name in ("sq8", "sq4"):  # the 1-byte words themselves
        assert str(vals.dtype).endswith("uint8")
        assert engine.posting_bytes == id_bytes + 1
        nonzero = q.words[q.words != 0]
        assert sorted(np.asarray(vals).tolist()) == sorted(nonzero.tolist())
    else:  # half floats widened exactly (numba has no float16 arrays)
        assert engine.posting_bytes == id_bytes + 4
    plain = ENGINES[backend]().build(book.decode(q))
    assert index.index_bytes == engine.index_bytes + book.index_bytes
    if name != "f16":
        assert engine.index_bytes < plain.index_bytes


def integer_book(name: str, sparse: bool) -> Codebook:
    """A codebook whose decode is exact small integers: lo 0 and step 1 at every
    coordinate (sq), or levels -1 / +1 (bin), so that tied scores are exact ties."""
    width = H if sparse else D
    levels = 2 ** codec(name).value_bits if name in ("sq8", "sq4") else 16
    if name == "bin":
        train = np.tile(np.array([[-1.0], [1.0]], dtype=np.float32), (1, D))
        return codec(name).fit(train)
    if sparse:  # every latent seen at 0 (lo is 0 anyway) and at levels - 1
        idx = np.arange(H).reshape(-1, 10).astype(np.int16)
        train = SparseCodes(idx, np.full(idx.shape, levels - 1, np.float32), H)
    else:
        train = np.zeros((2, width), dtype=np.float32)
        train[1] = levels - 1
    book = codec(name).fit(train)
    if name != "f16":
        assert (book.tables["lo"] == 0).all() and (book.tables["step"] == 1).all()
    return book


@pytest.mark.parametrize(("name", "sparse", "backend"), CASES)
def test_ties_go_to_the_lower_id(name: str, sparse: bool, backend: str) -> None:
    """Duplicated documents tie exactly; every backend then keeps the lower ids. The
    torch and inverted backends sum exactly on integer data (any two equal decoded
    scores tie); faiss's decoder does not, so it gets generic floats, whose only ties
    are the duplicates, each repeated more often than k + 1 (so it must search deeper)."""
    rng = np.random.default_rng(7)
    reps, k = 20, 10
    exact = backend != "faiss"
    if sparse:
        book = integer_book(name, True)
        idx = np.argsort(rng.random((30, H)), axis=1)[:, :KS].astype(np.int16)
        vals = rng.integers(0, 4, (30, KS)).astype(np.float32)
        base = SparseCodes(idx, vals, H)
        order = rng.permutation(30 * reps) % 30
        db = SparseCodes(base.indices[order], base.values[order], H)
        queries = SparseCodes(idx[:5], rng.integers(1, 3, (5, KS)).astype(np.float32), H)
    else:
        if exact:
            book = integer_book(name, False)
            base = rng.integers(-1 if name == "bin" else 0, 2, (30, D)).astype(np.float32)
            queries = rng.integers(-2, 3, (8, D)).astype(np.float32)
        else:
            book = codec(name).fit(rng.standard_normal((200, D)).astype(np.float32))
            base = rng.standard_normal((30, D)).astype(np.float32)
            queries = rng.standard_normal((8, D)).astype(np.float32)
        db = base[rng.permutation(30 * reps) % 30]
    q = book.encode(db)
    decoded = dense_of(book.decode(q))
    qd = dense_of(queries)
    full, ref_ids = brute_force(decoded, qd, k)
    s, i = QuantizedIndex(book, backend).build(q).search(queries, k)
    np.testing.assert_array_equal(i, ref_ids)
    ref_s = np.take_along_axis(full, ref_ids, 1)
    if exact:
        np.testing.assert_array_equal(s, ref_s.astype(np.float32))
    else:
        np.testing.assert_allclose(s, ref_s, rtol=0, atol=tolerance(decoded, qd))


@pytest.mark.parametrize(("name", "sparse", "backend"), CASES)
def test_k_larger_than_database_pads(name: str, sparse: bool, backend: str) -> None:
    book, q, queries, decoded = dataset(name, sparse, n=6, nq=3)
    s, i = QuantizedIndex(book, backend).build(q).search(queries, 9)
    _, ref_ids = brute_force(decoded, dense_of(queries), 6)
    assert s.shape == (3, 9)
    np.testing.assert_array_equal(i[:, :6], ref_ids)
    assert (i[:, 6:] == -1).all() and np.isneginf(s[:, 6:]).all()


@pytest.mark.parametrize("name", DENSE_CODECS)
def test_chunked_torch_scan(name: str) -> None:
    book, q, queries, decoded = dataset(name, False, n=500, nq=23, seed=3)
    index = QuantizedIndex(book, "torch", device="cpu", chunk=37, query_batch=7).build(q)
    s, i = index.search(queries, 12)
    full, ref_ids = brute_force(decoded, queries, 12)
    check_top_k(s, i, full, ref_ids, tolerance(decoded, queries))


def test_inverted_options_pass_through() -> None:
    if "inverted" not in backends("sq8", True):
        pytest.skip("numba unavailable")
    book, q, queries, decoded = dataset("sq8", True, n=700, seed=4)
    index = QuantizedIndex(book, "inverted", block=64, layout="block", unit=3).build(q)
    assert index.engine is not None and index.engine.block == 64
    s, i = index.search(queries, 8)
    full, ref_ids = brute_force(decoded, queries.to_dense(), 8)
    check_top_k(s, i, full, ref_ids, tolerance(decoded, queries.to_dense()))


def test_fallbacks_where_a_dependency_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qmod, "_faiss_available", lambda: False)
    assert backends("sq8", False) == ["torch"]
    assert backends("bin", False) == ["torch"]
    monkeypatch.setattr(ENGINES["inverted"], "available", classmethod(lambda cls: False))
    assert backends("sq8", True) == ["inverted-torch"]
    book, q, queries, decoded = dataset("sq4", True, n=300)
    index = QuantizedIndex(book).build(q)
    assert index.engine_name == "inverted-torch"
    s, i = index.search(queries, 5)
    full, ref_ids = brute_force(decoded, queries.to_dense(), 5)
    check_top_k(s, i, full, ref_ids, tolerance(decoded, queries.to_dense()))


def test_errors_are_clear() -> None:
    book, q, queries, _ = dataset("sq8", False, n=50)
    with pytest.raises(RuntimeError, match="build"):
        QuantizedIndex(book).search(queries, 3)
    with pytest.raises(ValueError, match="no backend"):
        QuantizedIndex(book, "inverted")
    with pytest.raises(RuntimeError, match="cannot search"):
        QuantizedIndex(codec("bin").fit(np.ones((3, D), np.float32)), "faiss")
    other = codec("sq4").fit(np.ones((3, D), np.float32))
    with pytest.raises(ValueError, match="cannot index"):
        QuantizedIndex(other).build(q)
    index = QuantizedIndex(book).build(q)
    with pytest.raises(ValueError, match="width"):
        index.search(np.ones((2, D + 1), np.float32), 3)
    with pytest.raises(ValueError, match="k must"):
        index.search(queries, 0)
    # sparse codes whose training values went negative: word 0 is not an empty slot
    neg = SparseCodes(np.arange(H).reshape(-1, 10).astype(np.int16), -np.ones((30, 10)), H)
    bad = codec("sq8").fit(neg)
    bad_q: Quantized = bad.encode(neg)
    with pytest.raises(ValueError, match="lo != 0"):
        QuantizedIndex(bad).build(bad_q)


class HighIdTies:
    """A faiss index stand-in that returns a correct top-kk set but, among documents
    tied at its last place, the highest ids: what an unordered heap is free to do."""

    def __init__(self, index) -> None:  # type: ignore[no-untyped-def]
        self.index = index

    def search(self, q: np.ndarray, kk: int):  # type: ignore[no-untyped-def]
        s, i = self.index.search(q, self.index.ntotal)
        order = np.lexsort((-i, -s), axis=1)[:, :kk]
        return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


@pytest.mark.parametrize("tie_batch", [512, 4])  # 4: the six tied rows in two batches
def test_faiss_ties_across_the_kth_place_are_searched_deeper(
    tie_batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qmod, "TIE_BATCH", tie_batch)
    rng = np.random.default_rng(8)
    book = codec("sq8").fit(rng.standard_normal((200, D)).astype(np.float32))
    base = rng.standard_normal((30, D)).astype(np.float32)
    q = book.encode(base[rng.permutation(600) % 30])  # each document 20 times
    queries = rng.standard_normal((6, D)).astype(np.float32)
    index = QuantizedIndex(book, "faiss").build(q)
    index.faiss_index = HighIdTies(index.faiss_index)
    s, i = index.search(queries, 10)
    _, ref_ids = brute_force(dense_of(book.decode(q)), queries, 10)
    np.testing.assert_array_equal(i, ref_ids)
    assert (s[:, :1] == s).all()  # the top 10 are copies of one document
