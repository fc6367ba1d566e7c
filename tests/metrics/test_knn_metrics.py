"""1-NN / k-NN accuracy against faiss exact search and scikit-learn's classifier."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from csrbench.codes import SparseCodes
from csrbench.metrics import (
    knn_accuracy,
    l2_normalize,
    nearest_neighbor_accuracy,
    nearest_neighbor_hits,
)
from csrbench.retrieval import available_engines


def blobs(seed: int, n: int, d: int = 24, classes: int = 6):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(123).standard_normal((classes, d)) * 0.6
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.standard_normal((n, d))
    return x.astype(np.float32), y


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("engine", [None, "torch", "faiss"])
def test_one_nn_matches_faiss_and_sklearn(engine: str | None) -> None:
    xtr, ytr = blobs(0, 800)
    xte, yte = blobs(1, 300)
    acc = nearest_neighbor_accuracy(xtr, ytr, xte, yte, engine=engine)

    index = faiss.IndexFlatIP(xtr.shape[1])
    index.add(unit(xtr))
    _, ids = index.search(unit(xte), 1)
    assert acc == pytest.approx(float((ytr[ids[:, 0]] == yte).mean()))
    hits = nearest_neighbor_hits(xtr, ytr, xte, yte, engine=engine)
    assert hits.dtype == bool and hits.tolist() == (ytr[ids[:, 0]] == yte).tolist()

    sk = KNeighborsClassifier(n_neighbors=1).fit(unit(xtr), ytr)
    assert acc == pytest.approx(sk.score(unit(xte), yte))
    assert 0.3 < acc < 1.0


def test_k5_vote_matches_sklearn() -> None:
    xtr, ytr = blobs(2, 600)
    xte, yte = blobs(3, 200)
    sk = KNeighborsClassifier(n_neighbors=5).fit(unit(xtr), ytr)
    assert knn_accuracy(xtr, ytr, xte, yte, k=5, engine="torch") == pytest.approx(
        sk.score(unit(xte), yte)
    )


@pytest.mark.parametrize("engine", available_engines("sparse"))
def test_sparse_codes_match_their_dense_form(engine: str) -> None:
    rng = np.random.default_rng(4)
    h, k = 128, 8

    def codes(n: int, y: np.ndarray) -> SparseCodes:
        # each class prefers its own 16 latents, so the 1-NN has signal
        idx = np.empty((n, k), dtype=np.int16)
        for r in range(n):
            p = np.ones(h)
            p[y[r] * 16 : y[r] * 16 + 16] = 12.0
            idx[r] = rng.choice(h, k, replace=False, p=p / p.sum())
        return SparseCodes(idx, rng.random((n, k), dtype=np.float32), h)

    ytr, yte = rng.integers(0, 5, 500), rng.integers(0, 5, 120)
    tr, te = codes(500, ytr), codes(120, yte)
    sparse_acc = nearest_neighbor_accuracy(tr, ytr, te, yte, engine=engine)
    dense_acc = nearest_neighbor_accuracy(tr.to_dense(), ytr, te.to_dense(), yte, engine="faiss")
    assert sparse_acc == pytest.approx(dense_acc)
    assert sparse_acc > 0.4


def test_l2_normalize_both_types() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    c = SparseCodes(np.array([[0, 5]], np.int16), np.array([[3.0, 4.0]], np.float16), 8)
    n = l2_normalize(c)
    assert isinstance(n, SparseCodes)
    np.testing.assert_allclose(n.values, [[0.6, 0.8]], rtol=1e-6)


def test_bad_inputs() -> None:
    xtr, ytr = blobs(5, 50)
    with pytest.raises(ValueError, match="labels"):
        nearest_neighbor_accuracy(xtr, ytr[:-1], xtr, ytr)
    with pytest.raises(ValueError, match="empty"):
        nearest_neighbor_accuracy(xtr[:0], ytr[:0], xtr, ytr)
    with pytest.raises(ValueError, match="width"):
        nearest_neighbor_accuracy(xtr, ytr, xtr[:, :5], ytr)
