"""Clustering quality of codes: V-measure (as MTEB) and Hungarian accuracy (as the paper).

Both score one k-means partition with n_clusters = the number of distinct labels.
MTEB clusters with MiniBatchKMeans(batch_size=500, n_init="auto") and reports the
V-measure; the CSR paper reports accuracy after matching clusters to labels one-to-one
with the Hungarian algorithm (scipy's linear_sum_assignment on the contingency table).
Sparse codes reach k-means as scipy CSR, never densified. Codes are L2-normalised first
(k-means on unit vectors clusters by cosine, as retrieval ranks), the same preprocessing
classification uses, so no method is scored on its arbitrary value scale.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from csrbench.metrics.classification import to_sklearn
from csrbench.metrics.knn import l2_normalize
from csrbench.retrieval import Database


def cluster(
    x: Database,
    n_clusters: int,
    method: Literal["minibatch", "kmeans"] = "minibatch",
    seed: int = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """int cluster id per row: MTEB's MiniBatchKMeans, or full KMeans."""
    from sklearn.cluster import KMeans, MiniBatchKMeans  # imported here: slow, rarely needed

    a = to_sklearn(x)
    if a.shape[0] < n_clusters:
        raise ValueError(f"{a.shape[0]} rows cannot form {n_clusters} clusters")
    if method == "minibatch":
        model = MiniBatchKMeans(
            n_clusters=n_clusters, batch_size=batch_size, n_init="auto", random_state=seed
        )
    elif method == "kmeans":
        model = KMeans(n_clusters=n_clusters, n_init="auto", random_state=seed)
    else:
        raise ValueError(f"method must be 'minibatch' or 'kmeans', got {method!r}")
    return model.fit_predict(a)


def _labels_pair(labels_true: np.ndarray, labels_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(labels_true), np.asarray(labels_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"label vectors must be 1-D and equal length, got {t.shape}, {p.shape}")
    if len(t) == 0:
        raise ValueError("no labels to score")
    return t, p


def hungarian_accuracy(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Fraction of rows whose cluster maps to their label under the best one-to-one
    cluster -> label assignment (clusters or labels left unmatched count as errors)."""
    t, p = _labels_pair(labels_true, labels_pred)
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((pi.max() + 1, ti.max() + 1), dtype=np.int64)
    np.add.at(table, (pi, ti), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(t))


def v_measure(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """scikit-learn's V-measure (harmonic mean of homogeneity and completeness)."""
    from sklearn.metrics import v_measure_score

    t, p = _labels_pair(labels_true, labels_pred)
    return float(v_measure_score(t, p))


def clustering_scores(
    x: Database,
    labels: np.ndarray,
    method: Literal["minibatch", "kmeans"] = "minibatch",
    seed: int = 0,
    normalize: bool = True,
) -> dict[str, float]:
    """{'v_measure', 'hungarian_accuracy'} of one k-means run with n_clusters = #labels,
    on L2-normalised codes (`normalize=False`: as given)."""
    labels = np.asarray(labels)
    a = to_sklearn(l2_normalize(x) if normalize else x)
    if a.shape[0] != len(labels):
        raise ValueError(f"{len(labels)} labels for {a.shape[0]} rows")
    pred = cluster(a, len(np.unique(labels)), method, seed)
    return {
        "v_measure": v_measure(labels, pred),
        "hungarian_accuracy": hungarian_accuracy(labels, pred),
    }
