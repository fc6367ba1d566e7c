"""bin: one bit per dense dimension, two reconstruction levels per dimension.

The bit says whether the value lies above its dimension's training mean; it decodes to
the mean of the training values on that side (one step of Lloyd's algorithm from the
mean split, so the levels fit the data rather than +-1). Queries stay float, so search
is asymmetric: score = sum_j q_j * low_j + sum_j q_j * (high_j - low_j) * bit_j, a
weighted bit count. Sparse codes are left out: their bit would only say "active",
which the stored id already says.
"""

from __future__ import annotations

import numpy as np

from csrbench.codecs.base import Codebook, Codec, per_coordinate, register_codec


@register_codec
class Binary(Codec):
    name = "bin"
    value_bits = 1
    sparse_ok = False
    summary = "1 bit per dimension (above its training mean), two levels per dimension"

    def calibrate(
        self, values: np.ndarray, coords: np.ndarray, width: int, sparse: bool
    ) -> dict[str, np.ndarray]:
        count = per_coordinate(values, coords, width, "count")
        threshold = per_coordinate(values, coords, width, "sum") / count
        above = values > threshold[coords]
        n_above = per_coordinate(above.astype(np.float32), coords, width, "sum")
        sum_above = per_coordinate(np.where(above, values, 0.0), coords, width, "sum")
        sum_below = per_coordinate(np.where(above, 0.0, values), coords, width, "sum")
        n_below = count - n_above
        high = np.where(n_above > 0, sum_above / np.maximum(n_above, 1), threshold)
        low = np.where(n_below > 0, sum_below / np.maximum(n_below, 1), threshold)
        return {
            "threshold": threshold.astype(np.float32),
            "low": low.astype(np.float32),
            "high": high.astype(np.float32),
        }

    @staticmethod
    def encode_values(book: Codebook, values: np.ndarray, coords: np.ndarray) -> np.ndarray:
        return (values > book.tables["threshold"][coords]).astype(np.uint8)

    @staticmethod
    def decode_values(book: Codebook, words: np.ndarray, coords: np.ndarray) -> np.ndarray:
        low, high = book.tables["low"][coords], book.tables["high"][coords]
        return np.where(words.astype(bool), high, low).astype(np.float32)
