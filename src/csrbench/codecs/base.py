"""What a codec is: a per-coordinate scalar quantizer, calibrated on training codes,
that turns a database of codes into the bytes an index stores.

Every method's codes are one of two shapes (`csrbench.codes`): fixed-k sparse rows
(k latent ids out of h, and their values) or dense rows of width d. A codec replaces
each value by a word of `value_bits` bits; the coordinate it sits at (the latent id of
a sparse slot, the dimension of a dense one) picks the table it is read back with. A
sparse code also stores its ids, packed at ceil(log2 h) bits.

- `Codec.fit(train)` reads training codes only (its one chance to see data) and returns
  a `Codebook`: the per-coordinate tables that decoding needs, and their bytes (the
  per-index cost);
- `Codebook.encode(x)` gives a `Quantized` database: the words, the ids, and the exact
  bytes per document; `Quantized.pack()` is the byte array an index file holds;
- `Codebook.decode(q)` gives the float32 codes that the words stand for, which is what
  the frontier scores and what an engine searching the words must reproduce.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from csrbench.codecs import bitpack
from csrbench.codes import SparseCodes, index_dtype

Codes = np.ndarray | SparseCodes


def index_bits(h: int) -> int:
    """Bits that address h latents: ceil(log2 h), at least 1."""
    if h < 1:
        raise ValueError(f"a sparse code needs h >= 1 latents, got {h}")
    return max(1, math.ceil(math.log2(h)))


def _values_and_coords(x: Codes) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """(values [n, m] float32, coordinate of each value [n, m], width, sparse)."""
    if isinstance(x, SparseCodes):
        return x.values.astype(np.float32), x.indices.astype(np.int64), x.h, True
    dense = np.asarray(x)
    if dense.ndim != 2:
        raise ValueError(f"dense codes must be [n, d], got shape {dense.shape}")
    d = dense.shape[1]
    coords = np.broadcast_to(np.arange(d, dtype=np.int64), dense.shape)
    return dense.astype(np.float32), coords, d, False


@dataclass(frozen=True)
class Quantized:
    """A database in a codec's storage format: one word per value, ids for sparse rows."""

    codec: str
    words: np.ndarray  # [n, m] unsigned, each < 2**value_bits
    indices: np.ndarray | None  # [n, k] latent ids (sparse); None for dense rows
    width: int  # h for sparse codes, d for dense ones
    value_bits: int

    @property
    def sparse(self) -> bool:
        return self.indices is not None

    @property
    def n(self) -> int:
        return self.words.shape[0]

    @property
    def index_bits(self) -> int:
        return index_bits(self.width) if self.sparse else 0

    def _widths(self) -> list[tuple[int, int]]:
        m = self.words.shape[1]
        fields = [(m, self.index_bits)] if self.sparse else []
        return [*fields, (m, self.value_bits)]

    @property
    def bytes_per_doc(self) -> int:
        """Bytes of one packed row: ids and values at their bit widths, padded to a byte."""
        return bitpack.row_bytes(self._widths())

    def pack(self) -> np.ndarray:
        """uint8 [n, bytes_per_doc]: the rows as an index file stores them."""
        fields = [(self.indices, self.index_bits)] if self.indices is not None else []
        return bitpack.pack([*fields, (self.words, self.value_bits)])

    @classmethod
    def unpack(
        cls, data: np.ndarray, codec: str, m: int, width: int, value_bits: int, sparse: bool
    ) -> Quantized:
        """Rows written by `pack` back into words (and ids); m = k or d."""
        widths = [(m, index_bits(width))] if sparse else []
        parts = bitpack.unpack(data, [*widths, (m, value_bits)])
        indices = parts[0].astype(index_dtype(width)) if sparse else None
        return cls(codec, parts[-1], indices, width, value_bits)


@dataclass(frozen=True)
class Codebook:
    """A fitted codec: its per-coordinate tables (float32 [width] each)."""

    codec: str
    value_bits: int
    sparse: bool
    width: int
    tables: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def index_bytes(self) -> int:
        """Bytes the index stores once, beside its documents: the decoding tables."""
        return int(sum(t.nbytes for t in self.tables.values()))

    def tables_bytes(self) -> bytes:
        """The tables as the index stores them (float32, in name order)."""
        return b"".join(self.tables[name].astype("<f4").tobytes() for name in sorted(self.tables))

    def _check(self, x: Codes) -> tuple[np.ndarray, np.ndarray]:
        values, coords, width, sparse = _values_and_coords(x)
        if sparse != self.sparse or width != self.width:
            kind = "sparse" if self.sparse else "dense"
            raise ValueError(
                f"codec {self.codec} was fitted on {kind} codes of width {self.width}; "
                f"got {'sparse' if sparse else 'dense'} codes of width {width}"
            )
        return values, coords

    def encode(self, x: Codes) -> Quantized:
        values, coords = self._check(x)
        words = CODEC_CLASSES[self.codec].encode_values(self, values, coords)
        indices = x.indices if isinstance(x, SparseCodes) else None
        return Quantized(self.codec, words, indices, self.width, self.value_bits)

    def decode(self, q: Quantized) -> Codes:
        """The float32 codes the words stand for (SparseCodes for sparse rows)."""
        if q.codec != self.codec or q.width != self.width or q.sparse != self.sparse:
            raise ValueError(
                f"cannot decode {q.codec} codes of width {q.width} with the {self.codec} "
                f"codebook of width {self.width}"
            )
        if q.indices is not None:
            coords = q.indices.astype(np.int64)
        else:
            coords = np.broadcast_to(np.arange(self.width, dtype=np.int64), q.words.shape)
        values = CODEC_CLASSES[self.codec].decode_values(self, q.words, coords)
        if q.indices is None:
            return values
        return SparseCodes(indices=q.indices, values=values, h=self.width)


class Codec(ABC):
    """One storage precision of code values. Subclasses register under `name`."""

    name: ClassVar[str]
    value_bits: ClassVar[int]
    sparse_ok: ClassVar[bool] = True  # whether it applies to sparse codes
    summary: ClassVar[str]

    def fit(self, train: Codes) -> Codebook:
        """Calibrate on training codes (never the test split's)."""
        values, coords, width, sparse = _values_and_coords(train)
        if sparse and not self.sparse_ok:
            raise ValueError(f"codec {self.name} applies to dense codes only")
        if values.shape[0] == 0:
            raise ValueError(f"codec {self.name} needs training codes to calibrate on, got 0 rows")
        tables = self.calibrate(values, coords, width, sparse)
        return Codebook(self.name, self.value_bits, sparse, width, tables)

    @abstractmethod
    def calibrate(
        self, values: np.ndarray, coords: np.ndarray, width: int, sparse: bool
    ) -> dict[str, np.ndarray]:
        """Per-coordinate float32 tables from the training values."""

    @staticmethod
    @abstractmethod
    def encode_values(book: Codebook, values: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """Words [n, m] for values [n, m] at coordinates [n, m]."""

    @staticmethod
    @abstractmethod
    def decode_values(book: Codebook, words: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """float32 [n, m] that words [n, m] at coordinates [n, m] stand for."""


CODEC_CLASSES: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    if cls.name in CODEC_CLASSES:
        raise ValueError(f"codec {cls.name!r} is registered twice")
    CODEC_CLASSES[cls.name] = cls
    return cls


def per_coordinate(values: np.ndarray, coords: np.ndarray, width: int, reduce: str) -> np.ndarray:
    """float64 [width]: max, min, sum or count of the values at each coordinate (NaN where
    no value sits there, for max and min)."""
    v, c = values.ravel().astype(np.float64), coords.ravel()
    if reduce == "count":
        return np.bincount(c, minlength=width).astype(np.float64)
    if reduce == "sum":
        return np.bincount(c, weights=v, minlength=width)
    out = np.full(width, -np.inf if reduce == "max" else np.inf)
    (np.maximum if reduce == "max" else np.minimum).at(out, c, v)
    return np.where(np.isfinite(out), out, np.nan)
