"""f16: values as IEEE half floats, the storage every method's codes are written in.

It needs no calibration; as a codec it puts the float16 codes on the same packed
layout as the quantized ones (sparse ids at ceil(log2 h) bits), so that every point of
the frontier is priced the same way.
"""

from __future__ import annotations

import numpy as np

from csrbench.codecs.base import Codebook, Codec, register_codec


@register_codec
class Float16(Codec):
    name = "f16"
    value_bits = 16
    summary = "float16 values (no calibration)"

    def calibrate(
        self, values: np.ndarray, coords: np.ndarray, width: int, sparse: bool
    ) -> dict[str, np.ndarray]:
        return {}

    @staticmethod
    def encode_values(book: Codebook, values: np.ndarray, coords: np.ndarray) -> np.ndarray:
        return values.astype(np.float16).view(np.uint16)

    @staticmethod
    def decode_values(book: Codebook, words: np.ndarray, coords: np.ndarray) -> np.ndarray:
        return np.asarray(words, dtype=np.uint16).view(np.float16).astype(np.float32)
