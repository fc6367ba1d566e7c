"""Codecs: the storage precision of a method's codes, applied after fitting.

A codec is one module registering one class (`base.Codec`); this package imports them
all, and `codec(name)` builds one. Names, in the order tables list them:

- `f16`  float16 values (the precision every method's codes are stored at)
- `sq8`  8-bit uniform levels, range per coordinate fitted on training codes
- `sq4`  4-bit uniform levels, likewise
- `bin`  1 bit per dense dimension, two levels per dimension (dense codes only)

Sparse codes add their latent ids, packed at ceil(log2 h) bits. `frontier` scores
every (method, k, codec) of an experiment against its exact bytes per document.
"""

from __future__ import annotations

from csrbench.codecs import binary, float16, uniform  # noqa: F401  (registers the codecs)
from csrbench.codecs.base import (
    CODEC_CLASSES,
    Codebook,
    Codec,
    Codes,
    Quantized,
    index_bits,
)

__all__ = [
    "CODEC_CLASSES",
    "Codebook",
    "Codec",
    "Codes",
    "Quantized",
    "codec",
    "codec_names",
    "index_bits",
]


def codec_names(sparse: bool | None = None) -> list[str]:
    """Registered codec names, finest first; `sparse` True/False keeps those that apply."""
    names = sorted(CODEC_CLASSES, key=lambda n: -CODEC_CLASSES[n].value_bits)
    if sparse:
        names = [n for n in names if CODEC_CLASSES[n].sparse_ok]
    return names


def codec(name: str) -> Codec:
    """The codec called `name`; a clear error listing the known ones otherwise."""
    if name not in CODEC_CLASSES:
        raise ValueError(f"unknown codec {name!r}; known codecs: {', '.join(codec_names())}")
    return CODEC_CLASSES[name]()
