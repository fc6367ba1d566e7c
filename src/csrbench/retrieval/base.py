"""The contract every search engine meets, and the registry that names them.

An engine is built once on a database and then answers batches of queries with the
exact top-K by inner product: `(scores [nq, K] float32, ids [nq, K] int64)`, rows
sorted by score descending. Ties are broken by lower database id, in every engine, so
that engines computing the same scores return the same ids (faiss's own heap already
prefers lower ids and the torch and numba engines enforce it; see `_topk`). When the
database has fewer than K rows the missing columns hold score -inf and id -1, as in
faiss. Inputs and outputs are numpy so that the metrics never see a device.

Besides searching, an engine states the facts a benchmark needs about it: where it
runs for a requested device (`options`, `placement`), how large its index is, and its
memory-bandwidth floor (`floor_bytes`: the bytes its algorithm must read per batch).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch

from csrbench.codes import SparseCodes, index_dtype
from csrbench.devices import resolve_device
from csrbench.retrieval._topk import MAX_IDS

Database = np.ndarray | SparseCodes
SearchResult = tuple[np.ndarray, np.ndarray]


class Engine(ABC):
    """One search method. Subclasses register themselves under `name`.

    `build` and `search` are shared: they turn the input into what the engine indexes
    (dense float32 or SparseCodes, by `kind`), refuse a database over `max_rows` and a
    search before `build`, and leave the engine's own work to `_build` and `_search`.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["dense", "sparse"]]
    max_rows: ClassVar[int | None] = None  # ids must stay below this (packed top-k keys)

    def __init__(self) -> None:
        self._n = 0
        self._dim = 0
        self._bytes = 0
        self._built = False

    @classmethod
    def available(cls) -> bool:
        """Whether the engine's dependencies are importable on this machine."""
        return True

    @classmethod
    def options(cls, device: torch.device) -> dict[str, Any]:
        """Constructor options that put the engine on `device`, where it can go there."""
        return {}

    @classmethod
    def placement(cls, device: torch.device) -> str:
        """The device type it then runs on ("cpu" for an engine that only has a CPU path)."""
        return "cpu"

    def build(self, database: Database) -> Self:
        """Index `database` (rows = documents); returns self."""
        data = require_codes(database) if self.kind == "sparse" else as_dense(database)
        n = rows(data)
        if self.max_rows is not None and n >= self.max_rows:
            raise ValueError(f"{self.name} indexes fewer than {self.max_rows} rows, got {n}")
        self._bytes = self._build(data)
        self._n, self._dim = n, width(data)
        self._built = True
        return self

    def search(self, queries: Database, k: int) -> SearchResult:
        """Exact top-k of every query row; see the module docstring for the contract."""
        self._require_built()
        return self._search(queries, k)

    @abstractmethod
    def _build(self, data: Any) -> int:
        """Index `data` (dense float32 [n, d] or SparseCodes, by kind); the bytes held."""

    @abstractmethod
    def _search(self, queries: Database, k: int) -> SearchResult:
        """`search` on a built engine."""

    def floor_bytes(self, batch: Database) -> dict[str, float]:
        """Bytes the algorithm must read to answer `batch` ("floor_bytes", plus extra
        bounds an engine knows). Default: a flat scan reads its whole index per batch."""
        self._require_built()
        return {"floor_bytes": float(self.index_bytes)}

    def _require_built(self) -> None:
        if not self._built:
            raise RuntimeError(f"build() the {self.name} engine before searching")

    @property
    def n(self) -> int:
        """Number of indexed documents."""
        return self._n

    @property
    def dim(self) -> int:
        """Width of the vectors searched (d for dense, h for sparse)."""
        return self._dim

    @property
    def index_bytes(self) -> int:
        """Bytes the built index occupies (what a search must be able to read)."""
        return self._bytes

    @property
    def bytes_per_doc(self) -> float:
        return self.index_bytes / max(self.n, 1)


class TorchEngine(Engine):
    """An engine whose index lives in torch tensors on `device` (CPU or CUDA)."""

    def __init__(self, device: str | torch.device | None = "auto") -> None:
        super().__init__()
        self.device = resolve_device(device)

    @classmethod
    def options(cls, device: torch.device) -> dict[str, Any]:
        return {"device": device}

    @classmethod
    def placement(cls, device: torch.device) -> str:
        return device.type


class ChunkedTorchEngine(TorchEngine):
    """Scores `query_batch` queries at a time against `chunk` database rows at a time,
    so the [queries x chunk] score block stays small (65,536 rows on CPU keep a
    512-query block at 128 MiB; on GPU a larger chunk amortises kernel launches)."""

    max_rows = MAX_IDS

    def __init__(
        self,
        device: str | torch.device | None = "auto",
        chunk: int | None = None,
        query_batch: int = 512,
    ) -> None:
        super().__init__(device)
        self.chunk = chunk or (1 << 20 if self.device.type == "cuda" else 1 << 16)
        self.query_batch = query_batch

    @torch.inference_mode()
    def _search(self, queries: Database, k: int) -> SearchResult:
        q_all = torch.from_numpy(as_dense(queries)).to(self.device)
        parts = [
            self._search_batch(q_all[start : start + self.query_batch], k)
            for start in range(0, q_all.shape[0], self.query_batch)
        ]
        scores = torch.cat([s.cpu() for s, _ in parts])
        return scores.numpy(), torch.cat([i.cpu() for _, i in parts]).numpy()

    @abstractmethod
    def _search_batch(self, q: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded top-k (scores, ids) of one batch of dense queries on the device."""


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


def rows(x: Database) -> int:
    """n of a dense matrix or of sparse codes."""
    return x.n if isinstance(x, SparseCodes) else int(np.shape(x)[0])


def require_codes(database: Database) -> SparseCodes:
    """`database` if it is SparseCodes (what sparse engines index), else a clear error."""
    if not isinstance(database, SparseCodes):
        raise TypeError(
            "sparse engines index SparseCodes; got a dense array "
            "(use a dense engine, or wrap it with retrieval.dense_to_codes)"
        )
    return database


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
