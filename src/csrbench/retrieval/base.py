"""The contract every search engine meets, and the registry that names them.

An engine is built once on a database and then answers batches of queries with the
exact top-K by inner product: `(scores [nq, K] float32, ids [nq, K] int64)`, rows
sorted by score descending. Ties are broken by lower database id, in every engine, so
that engines computing the same scores return the same ids (faiss's own heap already
prefers lower ids and the torch and numba engines enforce it; see `_topk`). When the
database has fewer than K rows the missing columns hold score -inf and id -1, as in
faiss. Inputs and outputs are numpy so that the metrics never see a device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

from csrbench.codes import SparseCodes, index_dtype
from csrbench.devices import resolve_device as resolve_device  # re-exported for the engines

Database = np.ndarray | SparseCodes
SearchResult = tuple[np.ndarray, np.ndarray]


class Engine(ABC):
    """One search method. Subclasses register themselves under `name`."""

    name: ClassVar[str]
    kind: ClassVar[Literal["dense", "sparse"]]

    @classmethod
    def available(cls) -> bool:
        """Whether the engine's dependencies are importable on this machine."""
        return True

    @abstractmethod
    def build(self, database: Database) -> Engine:
        """Index `database` (rows = documents); returns self."""

    @abstractmethod
    def search(self, queries: Database, k: int) -> SearchResult:
        """Exact top-k of every query row; see the module docstring for the contract."""

    @property
    @abstractmethod
    def n(self) -> int:
        """Number of indexed documents."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of the vectors searched (d for dense, h for sparse)."""

    @property
    @abstractmethod
    def index_bytes(self) -> int:
        """Bytes the built index occupies (what a search must be able to read)."""

    @property
    def bytes_per_doc(self) -> float:
        return self.index_bytes / max(self.n, 1)


ENGINES: dict[str, type[Engine]] = {}


def register_engine(cls: type[Engine]) -> type[Engine]:
    """Class decorator: add an engine to `ENGINES` under its `name`."""
    if cls.name in ENGINES:
        raise ValueError(f"engine {cls.name!r} registered twice")
    ENGINES[cls.name] = cls
    return cls


def available_engines(kind: str | None = None) -> list[str]:
    """Names of the engines that can run here, optionally of one kind."""
    return [
        name
        for name, cls in ENGINES.items()
        if cls.available() and (kind is None or cls.kind == kind)
    ]


def make_engine(name: str, **options: Any) -> Engine:
    """Instantiate a registered engine by name, with a clear error for a bad name."""
    if name not in ENGINES:
        raise KeyError(f"unknown search engine {name!r}; known: {sorted(ENGINES)}")
    cls = ENGINES[name]
    if not cls.available():
        raise RuntimeError(f"search engine {name!r} cannot run here (a dependency is missing)")
    return cls(**options)


def check_inputs(database: Database, queries: Database, k: int) -> None:
    """Raise a clear error for empty inputs, a width mismatch or a bad k."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    for what, x in (("database", database), ("queries", queries)):
        if isinstance(x, SparseCodes):
            if x.n == 0:
                raise ValueError(f"{what} is empty (0 rows)")
        else:
            if np.ndim(x) != 2:
                raise ValueError(f"{what} must be a 2-D array [n, d], got shape {np.shape(x)}")
            if np.shape(x)[0] == 0 or np.shape(x)[1] == 0:
                raise ValueError(f"{what} is empty (shape {np.shape(x)})")
    dw, qw = width(database), width(queries)
    if dw != qw:
        raise ValueError(f"database width {dw} != query width {qw}")


def width(x: Database) -> int:
    """d of a dense matrix, h of sparse codes."""
    return x.h if isinstance(x, SparseCodes) else int(np.shape(x)[1])


def as_dense(x: Database) -> np.ndarray:
    """float32 C-contiguous [n, d]; sparse codes are densified (small sets only)."""
    if isinstance(x, SparseCodes):
        return x.to_dense()
    return np.ascontiguousarray(x, dtype=np.float32)


def dense_to_codes(x: np.ndarray) -> SparseCodes:
    """Fixed-k codes of a dense [n, h] matrix, k = the largest row's nonzero count.

    Lets a sparse engine take dense queries (e.g. a densified code); rows with fewer
    nonzeros are padded with value-0 slots, which the engines skip.
    """
    x = np.asarray(x, dtype=np.float32)
    nnz = int((x != 0).sum(axis=1).max()) if x.size else 0
    k = max(nnz, 1)
    if k < x.shape[1]:
        idx = np.argpartition(-np.abs(x), k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(x.shape[1]), x.shape).copy()
    idx = np.sort(idx, axis=1)
    vals = np.take_along_axis(x, idx, axis=1)
    h = x.shape[1]
    return SparseCodes(indices=idx.astype(index_dtype(h)), values=vals, h=h)


def as_codes(x: Database) -> SparseCodes:
    """SparseCodes as they are; dense matrices through `dense_to_codes`."""
    return x if isinstance(x, SparseCodes) else dense_to_codes(x)


def sort_results(scores: np.ndarray, ids: np.ndarray) -> SearchResult:
    """Re-order each row by (score descending, id ascending), padding (-1) last."""
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
