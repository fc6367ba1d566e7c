"""Logistic-regression accuracy on codes: MTEB-style text classification and the
image linear probe.

Sparse codes are handed to scikit-learn as a scipy CSR matrix (never densified): lbfgs
and the scaler below accept it, so a k-of-h code costs O(n k) memory here as well.

Settings, fixed so that every method is scored the same way:

- `classification_accuracy` (MTEB's classification evaluator): LogisticRegression with
  C = 1, lbfgs, max_iter = 100, on L2-normalised codes, as retrieval and 1-NN see them.
  MTEB feeds raw embeddings, which for a sentence embedder are unit vectors already; a
  sparse code's values are small and its scale arbitrary, so raw CSR codes left C = 1
  at the majority class (pycode: 25% raw, 46-51% normalised) while the full embedding
  scores the same either way. One preprocessing for every method keeps them comparable.
- `linear_probe_accuracy` (image linear probe): features divided by their per-dimension
  standard deviation over the train split (StandardScaler(with_mean=False), which keeps
  sparsity), then LogisticRegression C = 1, lbfgs, max_iter = 1000 (multinomial).
  Scaling makes one C fit dense and sparse codes whose value scales differ.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from csrbench.codes import SparseCodes
from csrbench.metrics.knn import l2_normalize
from csrbench.retrieval import Database
from csrbench.retrieval.sparse import codes_to_csr_arrays


def to_sklearn(x: Database) -> np.ndarray | sp.csr_matrix:
    """Dense float32 array, or a scipy CSR matrix [n, h] for SparseCodes."""
    if isinstance(x, SparseCodes):
        crow, col, val = codes_to_csr_arrays(x)
        return sp.csr_matrix((val, col, crow), shape=(x.n, x.h))
    if sp.issparse(x):
        return sp.csr_matrix(x)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array [n, d], got shape {x.shape}")
    return x


def _check(x_train: Database, y_train: np.ndarray, x_test: Database, y_test: np.ndarray):  # type: ignore[no-untyped-def]
    a, b = to_sklearn(x_train), to_sklearn(x_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError(f"empty split: train {a.shape}, test {b.shape}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"train width {a.shape[1]} != test width {b.shape[1]}")
    if len(y_train) != a.shape[0] or len(y_test) != b.shape[0]:
        raise ValueError(
            f"labels ({len(y_train)}, {len(y_test)}) do not match rows ({a.shape[0]}, {b.shape[0]})"
        )
    if len(np.unique(y_train)) < 2:
        raise ValueError("the train split needs at least two classes")
    return a, y_train, b, y_test


def logistic_hits(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    C: float = 1.0,
    max_iter: int = 100,
    scale: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Fit LogisticRegression(lbfgs) on train; bool per test row: predicted right.

    Per row, so that two methods can be compared item by item. Convergence warnings are
    silenced: MTEB's max_iter = 100 rarely converges fully and the metric is defined by
    that budget.
    """
    # scikit-learn costs a second or more to import: only jobs that fit a classifier pay it
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    a, y_train, b, y_test = _check(x_train, y_train, x_test, y_test)
    if scale:
        scaler = StandardScaler(with_mean=False).fit(a)
        a, b = scaler.transform(a), scaler.transform(b)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(a, y_train)
    return clf.predict(b) == y_test


def logistic_accuracy(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    C: float = 1.0,
    max_iter: int = 100,
    scale: bool = False,
    seed: int = 0,
) -> float:
    """Top-1 accuracy on test: the mean of `logistic_hits`."""
    return float(logistic_hits(x_train, y_train, x_test, y_test, C, max_iter, scale, seed).mean())


def classification_hits(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    seed: int = 0,
    normalize: bool = True,
) -> np.ndarray:
    """Per test row of MTEB-style classification (C = 1, max_iter = 100) on L2-normalised
    codes (`normalize=False`: MTEB's raw input)."""
    if normalize:
        x_train, x_test = l2_normalize(x_train), l2_normalize(x_test)
    return logistic_hits(x_train, y_train, x_test, y_test, 1.0, 100, False, seed)


def classification_accuracy(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    seed: int = 0,
    normalize: bool = True,
) -> float:
    """MTEB-style classification accuracy: the mean of `classification_hits`."""
    hits = classification_hits(x_train, y_train, x_test, y_test, seed, normalize)
    return float(hits.mean())


def linear_probe_hits(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Per test row of the linear probe (std-scaled codes, C = 1, max_iter = 1000)."""
    return logistic_hits(x_train, y_train, x_test, y_test, C, max_iter, True, seed)


def linear_probe_accuracy(
    x_train: Database,
    y_train: np.ndarray,
    x_test: Database,
    y_test: np.ndarray,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Linear-probe top-1: the mean of `linear_probe_hits`."""
    return float(linear_probe_hits(x_train, y_train, x_test, y_test, C, max_iter, seed).mean())
