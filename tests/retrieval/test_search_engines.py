"""Every engine against an independent exact search (faiss / numpy on densified codes)."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from csrbench.codes import SparseCodes
from csrbench.retrieval import (
    ENGINES,
    available_engines,
    dense_to_codes,
    make_engine,
    search,
)

SPARSE = available_engines("sparse")
DENSE = available_engines("dense")
ALL = SPARSE + DENSE


def random_codes(
    n: int, h: int, k: int, rng: np.random.Generator, levels: np.ndarray | None = None
) -> SparseCodes:
    idx = np.argsort(rng.random((n, h)), axis=1)[:, :k]
    if levels is None:
        vals = rng.random((n, k), dtype=np.float32) + 0.05
    else:
        vals = rng.choice(levels, size=(n, k)).astype(np.float32)
    return SparseCodes(indices=idx.astype(np.int16), values=vals, h=h)


def exact(db: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 scores, ids sorted by (score desc, id asc): the tie rule by definition."""
    s = q.astype(np.float64) @ db.astype(np.float64).T
    ids = np.broadcast_to(np.arange(db.shape[0]), s.shape)
    order = np.lexsort((ids, -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, 1), order


def run(name: str, db: SparseCodes, q: SparseCodes, k: int, **opts):  # type: ignore[no-untyped-def]
    if ENGINES[name].kind == "dense":
        return search(name, db.to_dense(), q.to_dense(), k, **opts)
    return search(name, db, q, k, **opts)


def test_registry_lists_the_required_engines() -> None:
    assert {"faiss", "torch", "torch-csr", "inverted", "inverted-torch"} <= set(ENGINES)
    assert set(SPARSE) >= {"torch-csr", "inverted-torch"}
    assert "faiss" in DENSE and "torch" in DENSE


@pytest.mark.parametrize("name", ALL)
def test_matches_faiss_on_random_codes(name: str) -> None:
    rng = np.random.default_rng(0)
    db, q = random_codes(700, 96, 8, rng), random_codes(37, 96, 8, rng)
    index = faiss.IndexFlatIP(96)
    index.add(db.to_dense())
    ref_s, ref_i = index.search(q.to_dense(), 10)
    s, i = run(name, db, q, 10)
    assert s.shape == (37, 10) and i.shape == (37, 10)
    assert s.dtype == np.float32 and i.dtype == np.int64
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_ties_go_to_the_lower_id(name: str) -> None:
    """Dyadic values make every engine's sums exact, so ties are exact ties; duplicated
    documents and few latents make many of them, and zero-score documents fill the
    tail of queries with few matches."""
    rng = np.random.default_rng(1)
    base = random_codes(150, 12, 3, rng, levels=np.array([0.5, 1.0, 2.0]))
    db = SparseCodes(
        indices=np.concatenate([base.indices, base.indices[::-1]]),
        values=np.concatenate([base.values, base.values[::-1]]),
        h=12,
    )
    q = random_codes(25, 12, 2, rng, levels=np.array([1.0, 0.25]))
    ref_s, ref_i = exact(db.to_dense(), q.to_dense(), 40)
    s, i = run(name, db, q, 40)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(s, ref_s.astype(np.float32))


@pytest.mark.parametrize("name", SPARSE)
def test_zero_slots_and_dense_or_negative_queries(name: str) -> None:
    rng = np.random.default_rng(2)
    db = random_codes(300, 40, 6, rng, levels=np.array([0.0, 0.5, 1.0, 4.0]))
    qd = np.zeros((9, 40), dtype=np.float32)
    qd[:, rng.integers(0, 40, 5)] = rng.choice([-1.0, 0.5, 2.0], size=(9, 5))
    ref_s, ref_i = exact(db.to_dense(), qd, 12)
    s, i = search(name, db, dense_to_codes(qd), 12)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(s, ref_s.astype(np.float32))
    if name != "inverted-torch":  # dense queries straight into the engine
        _, i2 = search(name, db, qd, 12)
        np.testing.assert_array_equal(i2, ref_i)


@pytest.mark.parametrize("name", ALL)
def test_k_larger_than_database_pads(name: str) -> None:
    rng = np.random.default_rng(3)
    db, q = random_codes(5, 20, 4, rng), random_codes(3, 20, 4, rng)
    s, i = run(name, db, q, 8)
    _, ref_i = exact(db.to_dense(), q.to_dense(), 5)
    np.testing.assert_array_equal(i[:, :5], ref_i)
    assert (i[:, 5:] == -1).all() and np.isneginf(s[:, 5:]).all()


@pytest.mark.parametrize(
    ("name", "opts"),
    [
        ("torch", {"chunk": 37, "query_batch": 7}),
        ("torch-csr", {"chunk": 53, "query_batch": 5}),
        ("inverted-torch", {"max_postings": 500, "max_accumulator": 3000}),
        ("inverted", {"block": 64, "layout": "block", "unit": 3}),
        ("inverted", {"block": 100, "layout": "latent", "threads": 1}),
    ],
)
def test_chunked_and_blocked_paths(name: str, opts: dict) -> None:
    if name not in available_engines():
        pytest.skip(f"{name} unavailable")
    rng = np.random.default_rng(4)
    db = random_codes(1000, 64, 5, rng, levels=np.array([0.5, 1.0, 2.0]))
    q = random_codes(23, 64, 5, rng, levels=np.array([0.5, 1.0]))
    ref_s, ref_i = exact(db.to_dense(), q.to_dense(), 15)
    s, i = run(name, db, q, 15, **opts)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(s, ref_s.astype(np.float32))


def test_index_sizes() -> None:
    rng = np.random.default_rng(5)
    db = random_codes(1000, 64, 8, rng)
    if "inverted" in available_engines():
        e = make_engine("inverted").build(db)
        assert e.n == 1000 and e.dim == 64
        assert 6 * 8 <= e.bytes_per_doc < 6 * 8 + 2  # uint16 id + float32 value per slot
    e = make_engine("faiss").build(db.to_dense())
    assert e.bytes_per_doc == 64 * 4


def test_errors_are_clear() -> None:
    rng = np.random.default_rng(6)
    db, q = random_codes(20, 16, 3, rng), random_codes(4, 16, 3, rng)
    with pytest.raises(ValueError, match="empty"):
        search("faiss", np.zeros((0, 16), np.float32), q.to_dense(), 3)
    with pytest.raises(ValueError, match="empty"):
        search("torch-csr", db, SparseCodes(q.indices[:0], q.values[:0], 16), 3)
    with pytest.raises(ValueError, match="width"):
        search("torch", db.to_dense(), np.ones((2, 15), np.float32), 3)
    with pytest.raises(ValueError, match="width"):
        search("torch-csr", db, SparseCodes(q.indices, q.values, 32), 3)
    with pytest.raises(ValueError, match="2-D"):
        search("faiss", np.ones(16, np.float32), q.to_dense(), 3)
    with pytest.raises(ValueError, match="k must"):
        search("torch", db.to_dense(), q.to_dense(), 0)
    with pytest.raises(TypeError, match="SparseCodes"):
        search("torch-csr", db.to_dense(), q.to_dense(), 3)
    with pytest.raises(KeyError, match="unknown search engine"):
        search("annoy", db, q, 3)
    with pytest.raises(RuntimeError, match="build"):
        make_engine("torch").search(q.to_dense(), 3)


@pytest.mark.parametrize("name", SPARSE)
def test_a_search_leaves_the_jobs_torch_thread_budget_alone(name: str) -> None:
    """A tuning job sets torch to its one core, fits, scores on validation (a search),
    fits again: the search must not hand the second fit every core of the machine."""
    import torch

    rng = np.random.default_rng(0)
    codes = random_codes(300, 256, 8, rng)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        search(name, codes, codes, 5)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_faiss_recomputes_tied_rows_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """1-bit codes of few dims tie on every query; the tied rows are recomputed a batch
    at a time (batches of 3 here, so 20 queries cross six seams) with the tie rule."""
    from csrbench.retrieval import dense

    monkeypatch.setattr(dense, "TIE_BATCH", 3)
    rng = np.random.default_rng(11)
    db = np.sign(rng.standard_normal((500, 4))).astype(np.float32)  # 16 distinct rows
    q = rng.standard_normal((20, 4)).astype(np.float32)
    engine = make_engine("faiss").build(db)
    index = engine._index

    class HighestIdsFirst:  # a correct top-kk set, but the highest ids among ties
        def search(self, x: np.ndarray, kk: int):  # type: ignore[no-untyped-def]
            s, i = index.search(x, index.ntotal)
            order = np.lexsort((-i, -s), axis=1)[:, :kk]
            return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)

    engine._index = HighestIdsFirst()
    s, i = engine.search(q, 10)
    ref_s, ref_i = exact(db, q, 10)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, rtol=1e-6)
