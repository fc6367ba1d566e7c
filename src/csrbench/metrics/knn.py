"""k-NN classification accuracy by exact search (the paper's image metric: 1-NN top-1).

Codes are L2-normalised first, so inner-product search ranks by cosine similarity,
which for unit vectors is the same order as Euclidean distance (the paper's setting).
Dense arrays and SparseCodes go through the same `csrbench.retrieval` engines, so the
sparse path never densifies the database. Database = train split, queries = test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csrbench.codes import SparseCodes
from csrbench.retrieval import Database, check_inputs, search


def l2_normalize(x: Database, eps: float = 1e-12) -> Database:
    """Rows scaled to unit L2 norm (all-zero rows stay zero); same type as the input."""
    if isinstance(x, SparseCodes):
        v = x.values.astype(np.float32)
        norm = np.sqrt((v * v).sum(axis=1, keepdims=True))
        return SparseCodes(indices=x.indices, values=v / np.maximum(norm, eps), h=x.h)
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, eps)


def vote(neighbor_ids: np.ndarray, database_labels: np.ndarray, k: int = 1) -> np.ndarray:
    """Majority label among the first k neighbours of each query (ties: smallest label,
    as scikit-learn's KNeighborsClassifier); ids of -1 (padding) do not vote."""
    labels = np.asarray(database_labels)
    ids = np.asarray(neighbor_ids)[:, :k]
    if k == 1:
        return labels[ids[:, 0]]
    classes, inverse = np.unique(labels, return_inverse=True)
    nq = ids.shape[0]
    counts = np.zeros((nq, len(classes)), dtype=np.int64)
    valid = ids >= 0
    rows = np.broadcast_to(np.arange(nq)[:, None], ids.shape)
    np.add.at(counts, (rows[valid], inverse[ids[valid]]), 1)
    return classes[counts.argmax(axis=1)]


def knn_hits(
    database: Database,
    database_labels: np.ndarray,
    queries: Database,
    query_labels: np.ndarray,
    k: int = 1,
    engine: str | None = None,
    normalize: bool = True,
    **engine_options: Any,
) -> np.ndarray:
    """bool [n_queries]: whether k-NN voting (k = 1: the paper's 1-NN, exact search) labels
    each query correctly. Per query, so that two methods can be compared item by item.

    `engine` None picks the fastest exact engine for the input type (faiss for dense,
    the inverted index for SparseCodes).
    """
    check_inputs(database, queries, k)
    database_labels = np.asarray(database_labels)
    query_labels = np.asarray(query_labels)
    n_db = database.n if isinstance(database, SparseCodes) else len(database)
    n_q = queries.n if isinstance(queries, SparseCodes) else len(queries)
    if len(database_labels) != n_db or len(query_labels) != n_q:
        raise ValueError(
            f"labels ({len(database_labels)}, {len(query_labels)}) do not match rows "
            f"({n_db}, {n_q})"
        )
    if normalize:
        database, queries = l2_normalize(database), l2_normalize(queries)
    _, ids = search(engine, database, queries, k, **engine_options)
    return vote(ids, database_labels, k) == query_labels


def knn_accuracy(
    database: Database,
    database_labels: np.ndarray,
    queries: Database,
    query_labels: np.ndarray,
    k: int = 1,
    engine: str | None = None,
    normalize: bool = True,
    **engine_options: Any,
) -> float:
    """Top-1 accuracy of k-NN voting: the mean of `knn_hits`."""
    hits = knn_hits(
        database, database_labels, queries, query_labels, k, engine, normalize, **engine_options
    )
    return float(hits.mean())


def nearest_neighbor_hits(
    database: Database,
    database_labels: np.ndarray,
    queries: Database,
    query_labels: np.ndarray,
    engine: str | None = None,
    **engine_options: Any,
) -> np.ndarray:
    """Per query: is the paper's 1-NN (L2-normalised codes) label right."""
    return knn_hits(
        database, database_labels, queries, query_labels, 1, engine, True, **engine_options
    )


def nearest_neighbor_accuracy(
    database: Database,
    database_labels: np.ndarray,
    queries: Database,
    query_labels: np.ndarray,
    engine: str | None = None,
    **engine_options: Any,
) -> float:
    """The paper's 1-NN top-1 accuracy on L2-normalised codes."""
    return knn_accuracy(
        database, database_labels, queries, query_labels, 1, engine, True, **engine_options
    )
