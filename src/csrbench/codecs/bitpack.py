"""Fixed-width unsigned words packed into whole bytes per row: the byte layout of a
quantized code as a file or an index stores it.

A row is the concatenation of its fields' words (for a sparse code: k latent ids of
ceil(log2 h) bits, then k values of b bits), least significant bit first, padded with
zero bits to the next byte. Rows are padded separately, so row i starts at byte
i * row_bytes and a document is read without decoding its neighbours. Vectorised over
rows: the bit matrix of a batch is built at once, never row by row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_BITS = 32


def row_bytes(widths: Sequence[tuple[int, int]]) -> int:
    """Bytes per row of fields given as (words per row, bits per word)."""
    return -(-sum(m * bits for m, bits in widths) // 8)


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"a packed word has 1 to {MAX_BITS} bits, got {bits}")


CHUNK_ROWS = 1 << 14  # rows packed at a time: the bit planes take 1 byte per bit


def pack(fields: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
    """uint8 [n, row_bytes]: each (words [n, m], bits) field's words, in order, packed.

    Raises when a word does not fit its width (a silent truncation would corrupt codes).
    One field of 1, 4, 8 or 16 bits (a dense code) is laid out directly, which is the
    same bytes; anything else goes through bit planes, `CHUNK_ROWS` rows at a time, so
    packing a million rows never holds more than a chunk's planes.
    """
    if not fields:
        raise ValueError("nothing to pack: give at least one (words, bits) field")
    n = fields[0][0].shape[0]
    checked = []
    for words, bits in fields:
        _check_bits(bits)
        w = np.asarray(words)
        if w.ndim != 2 or w.shape[0] != n:
            raise ValueError(f"every field must be [n={n}, m] words, got shape {w.shape}")
        if w.size and int(w.max()) >> bits:
            raise ValueError(f"word {int(w.max())} does not fit in {bits} bits")
        checked.append((w, bits))
    if len(checked) == 1 and checked[0][1] in (1, 4, 8, 16):
        return _pack_whole_bytes(*checked[0])
    out = np.empty((n, row_bytes([(w.shape[1], b) for w, b in checked])), dtype=np.uint8)
    for a in range(0, n, CHUNK_ROWS):
        planes = [_bit_planes(w[a : a + CHUNK_ROWS], bits) for w, bits in checked]
        out[a : a + CHUNK_ROWS] = np.packbits(
            np.concatenate(planes, axis=1), axis=1, bitorder="little"
        )
    return out


def _bit_planes(words: np.ndarray, bits: int) -> np.ndarray:
    w = words.astype(np.uint64)
    shifts = np.arange(bits, dtype=np.uint64)
    return ((w[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(len(w), -1)


def _pack_whole_bytes(words: np.ndarray, bits: int) -> np.ndarray:
    """The bit-plane layout of one field whose words tile bytes: 16-bit words are their
    little-endian bytes, 8-bit words bytes, 4-bit words two per byte (the first in the
    low nibble), 1-bit words eight per byte (the first in the lowest bit)."""
    if bits == 16:
        return np.ascontiguousarray(words, dtype="<u2").view(np.uint8)
    w = words.astype(np.uint8, copy=False)
    if bits == 8:
        return np.ascontiguousarray(w)
    if bits == 1:
        return np.packbits(w, axis=1, bitorder="little")
    if w.shape[1] % 2:  # an odd row ends in a half byte, zero-padded
        w = np.concatenate([w, np.zeros((w.shape[0], 1), np.uint8)], axis=1)
    return np.ascontiguousarray(w[:, 0::2] | (w[:, 1::2] << 4))


def unpack(data: np.ndarray, widths: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """The inverse of `pack`: one uint64 [n, m] array per (m, bits) field."""
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != row_bytes(widths):
        raise ValueError(
            f"packed rows must be [n, {row_bytes(widths)}] bytes for fields {list(widths)}, "
            f"got shape {data.shape}"
        )
    total = sum(m * bits for m, bits in widths)
    plane = np.unpackbits(data, axis=1, count=total, bitorder="little").astype(np.uint64)
    out, start = [], 0
    for m, bits in widths:
        _check_bits(bits)
        chunk = plane[:, start : start + m * bits].reshape(data.shape[0], m, bits)
        out.append((chunk << np.arange(bits, dtype=np.uint64)).sum(axis=2, dtype=np.uint64))
        start += m * bits
    return out
