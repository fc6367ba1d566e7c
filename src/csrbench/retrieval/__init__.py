"""Exact top-K inner-product search over dense vectors and fixed-k sparse codes.

Engines (see `ENGINES`, `available_engines()`):

- `faiss`          dense, faiss IndexFlatIP (GPU when faiss sees one)
- `torch`          dense, chunked torch matmul + top-K (CUDA when torch sees one)
- `torch-csr`      sparse, document CSR @ dense queries (cuSPARSE on GPU)
- `inverted`       sparse, blocked inverted index, fused scoring + top-K (numba)
- `inverted-torch` sparse, inverted index with torch gather + index_add_ (CPU or CUDA)
- `ell-triton`     sparse, fused Triton gather-score-top-k over the fixed-k codes (GPU)

All return `(scores [nq, k] float32, ids [nq, k] int64)`, best first, ties broken by
lower database id, padding (-inf, -1) when the database has fewer than k rows.
"""

from __future__ import annotations

from typing import Any

from csrbench.codes import SparseCodes

# importing the engine modules registers them; in this order, which is the order in
# which `ENGINES` and `available_engines` list them (and the bench JSONs record them)
from csrbench.retrieval import dense, sparse  # noqa: F401

# isort: split
from csrbench.retrieval import inverted  # noqa: F401

# isort: split
from csrbench.retrieval import ell_triton  # noqa: F401
from csrbench.retrieval.base import (
    ENGINES,
    Database,
    Engine,
    SearchResult,
    as_codes,
    as_dense,
    available_engines,
    check_inputs,
    dense_to_codes,
    make_engine,
    register_engine,
    rows,
)

__all__ = [
    "ENGINES",
    "Database",
    "Engine",
    "SearchResult",
    "as_codes",
    "as_dense",
    "available_engines",
    "check_inputs",
    "default_engine",
    "dense_to_codes",
    "make_engine",
    "register_engine",
    "rows",
    "search",
]


def default_engine(database: Database) -> str:
    """The fastest exact engine available for this kind of database."""
    if isinstance(database, SparseCodes):
        return "inverted" if "inverted" in available_engines() else "torch-csr"
    return "faiss" if "faiss" in available_engines() else "torch"


def search(
    engine_name: str | None,
    database: Database,
    queries: Database,
    k: int,
    **options: Any,
) -> SearchResult:
    """Build `engine_name` (None: `default_engine`) on `database`, return the top-k of
    every query row. Options go to the engine's constructor (device, chunk, ...)."""
    check_inputs(database, queries, k)
    name = engine_name or default_engine(database)
    return make_engine(name, **options).build(database).search(queries, int(k))
