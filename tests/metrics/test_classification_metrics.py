from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from csrbench.codes import SparseCodes
from csrbench.metrics import classification_accuracy, classification_hits, linear_probe_accuracy


def data(seed: int, n: int, d: int = 20):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(99).standard_normal((d, 4))
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x @ w).argmax(axis=1)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_classification_matches_sklearn_on_unit_rows() -> None:
    xtr, ytr = data(0, 400)
    xte, yte = data(1, 200)
    clf = LogisticRegression(C=1.0, max_iter=100, random_state=0).fit(_unit(xtr), ytr)
    ref = clf.score(_unit(xte), yte)
    assert classification_accuracy(xtr, ytr, xte, yte) == pytest.approx(ref)
    hits = classification_hits(xtr, ytr, xte, yte)
    assert hits.tolist() == (clf.predict(_unit(xte)) == yte).tolist()
    raw = LogisticRegression(C=1.0, max_iter=100, random_state=0).fit(xtr, ytr)
    got = classification_accuracy(xtr, ytr, xte, yte, normalize=False)
    assert got == pytest.approx(raw.score(xte, yte))  # MTEB's raw input, on request
    assert ref > 0.8


def test_small_valued_sparse_codes_classify_once_normalised() -> None:
    # codes whose values are 1e-3 of a unit vector's (a CSR code's scale): with C = 1 the
    # raw codes stay at the majority class, the normalised ones carry the labels
    rng = np.random.default_rng(4)
    n, h, k, classes = 600, 64, 4, 4
    y = rng.integers(0, classes, n)
    idx = np.stack([c * 16 + rng.permutation(16)[:k] for c in y]).astype(np.int16)
    idx = np.sort(idx, axis=1)
    codes = SparseCodes(idx, (rng.random((n, k)) * 1e-3 + 1e-4).astype(np.float32), h)
    tr, te = slice(0, 400), slice(400, None)
    sub = lambda s: SparseCodes(codes.indices[s], codes.values[s], h)  # noqa: E731
    majority = np.bincount(y[te]).max() / len(y[te])
    raw = classification_accuracy(sub(tr), y[tr], sub(te), y[te], normalize=False)
    unit = classification_accuracy(sub(tr), y[tr], sub(te), y[te])
    assert raw == pytest.approx(majority, abs=0.05)
    assert unit > 0.95


def test_sparse_codes_give_the_dense_result() -> None:
    rng = np.random.default_rng(2)
    n, h, k = 300, 50, 5
    idx = np.argsort(rng.random((n, h)), axis=1)[:, :k].astype(np.int16)
    codes = SparseCodes(idx, rng.random((n, k), dtype=np.float32) + 0.1, h)
    y = (codes.to_dense()[:, :10].sum(axis=1) > 0.6).astype(int) + idx[:, 0] % 2
    tr, te = slice(0, 200), slice(200, None)
    sub = lambda s: SparseCodes(codes.indices[s], codes.values[s], h)  # noqa: E731
    sparse = linear_probe_accuracy(sub(tr), y[tr], sub(te), y[te])
    dense = linear_probe_accuracy(codes.to_dense()[tr], y[tr], codes.to_dense()[te], y[te])
    assert sparse == pytest.approx(dense, abs=0.011)


def test_bad_inputs() -> None:
    x, y = data(3, 30)
    with pytest.raises(ValueError, match="labels"):
        classification_accuracy(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="width"):
        classification_accuracy(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="empty"):
        classification_accuracy(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="two classes"):
        classification_accuracy(x, np.zeros_like(y), x, y)
