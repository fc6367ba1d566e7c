"""sq8 / sq4: uniform scalar quantization with one range per coordinate, fitted on the
training codes (faiss's ScalarQuantizer with its min-max range, per dimension).

Coordinate j (a dense dimension, or a sparse latent) maps [lo_j, hi_j], the range of
its training values, onto 2**b - 1 equal steps; a value outside it is clipped. For
sparse codes, whose values are >= 0, lo_j is 0, so an inactive slot decodes to exactly
0, and a latent that never fires in training gets the range of all latents. The index
stores lo and step (float32 each) per coordinate.

Why per coordinate and not per code: an engine can then fold the step into the query
(score = sum_j q_j * step_j * word_j + sum_j q_j * lo_j) and search the integer words
directly, and no document pays for a scale of its own.
"""

from __future__ import annotations

import numpy as np

from csrbench.codecs.base import Codebook, Codec, per_coordinate, register_codec


class Uniform(Codec):
    bits: int

    def calibrate(
        self, values: np.ndarray, coords: np.ndarray, width: int, sparse: bool
    ) -> dict[str, np.ndarray]:
        hi = per_coordinate(values, coords, width, "max")
        lo = per_coordinate(values, coords, width, "min")
        hi = np.where(np.isnan(hi), float(values.max()), hi)
        lo = np.where(np.isnan(lo), float(values.min()), lo)
        if sparse:
            lo = np.minimum(lo, 0.0)
        span = hi - lo
        step = np.where(span > 0, span / (2**self.value_bits - 1), 1.0)
        return {"lo": lo.astype(np.float32), "step": step.astype(np.float32)}

    @staticmethod
    def encode_values(book: Codebook, values: np.ndarray, coords: np.ndarray) -> np.ndarray:
        lo, step = book.tables["lo"][coords], book.tables["step"][coords]
        levels = np.rint((values - lo) / step)
        return np.clip(levels, 0, 2**book.value_bits - 1).astype(np.uint8)

    @staticmethod
    def decode_values(book: Codebook, words: np.ndarray, coords: np.ndarray) -> np.ndarray:
        lo, step = book.tables["lo"][coords], book.tables["step"][coords]
        return (lo + words.astype(np.float32) * step).astype(np.float32)


@register_codec
class Uniform8(Uniform):
    name = "sq8"
    value_bits = 8
    summary = "8-bit uniform levels, range per coordinate fitted on training codes"


@register_codec
class Uniform4(Uniform):
    name = "sq4"
    value_bits = 4
    summary = "4-bit uniform levels, range per coordinate fitted on training codes"
