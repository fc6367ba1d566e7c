"""Pass-through backbone for embeddings a user computed elsewhere ("vector" fields).

Config (`type: precomputed`) has no model keys: the loader supplies [n, d] float
vectors and this backbone hands them to the store as float32 in batches, so that
user embeddings flow through the same store, provenance and training stages as
backbone outputs. `dim` is unknown until data is seen: it is set from the field's
`items.shape[1]` (or the first row) when `embed` starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from csrbench.backbones.base import iter_slices, require_kind
from csrbench.backbones.weights import library_versions
from csrbench.data.base import Field


class PrecomputedBackbone:
    """Yields a "vector" field's rows unchanged (as float32)."""

    kinds = frozenset({"vector"})

    def __init__(self, dim: int | None = None, device: str = "auto", amp: bool = False):
        """`dim` optionally pins the expected width (a mismatch is an error).

        `device` and `amp` are accepted for a uniform `build_backbone` call and ignored:
        nothing is computed.
        """
        self.name = "precomputed"
        self.dim: int | None = int(dim) if dim is not None else None
        self._pinned = dim is not None

    def _field_dim(self, field: Field) -> int:
        items = field.items
        shape = getattr(items, "shape", None)
        if shape is not None and len(shape) == 2:
            return int(shape[1])
        if len(items) == 0:
            raise ValueError(f"vector field {field.name!r} is empty and has no [n, d] shape")
        first = np.asarray(items[0])
        if first.ndim != 1:
            raise ValueError(f"vector field {field.name!r}: rows must be 1-D, got {first.shape}")
        return int(first.shape[0])

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        require_kind(self, field)
        d = self._field_dim(field)
        if self.dim is not None and d != self.dim:
            what = "configured" if self._pinned else "an earlier field's"
            raise ValueError(
                f"vector field {field.name!r} has width {d}, but {what} width is {self.dim}"
            )
        self.dim = d
        for sl in iter_slices(len(field.items), batch_size):
            try:
                block = np.asarray(field.items[sl], dtype=np.float32)
            except ValueError:  # ragged rows
                block = np.empty((0,), dtype=np.float32)
            if block.ndim != 2 or block.shape[1] != d:
                raise ValueError(
                    f"vector field {field.name!r}: rows {sl.start}..{sl.stop} do not form a "
                    f"[*, {d}] float matrix (got shape {block.shape}; ragged rows give (0,))"
                )
            if not np.isfinite(block).all():
                bad = sl.start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                raise ValueError(f"vector field {field.name!r}: row {bad} is not finite")
            yield block

    def provenance(self) -> dict[str, Any]:
        return {
            "type": "precomputed",
            "model": "precomputed",
            "weights": {"source": "none: user-supplied vectors passed through", "sha256": None},
            "dim": self.dim,
            "preprocessing": {"cast": "float32", "normalize": False},
            "device": "cpu",
            "amp": False,
            "dtype": "float32",
            "versions": library_versions("numpy"),
        }

    def __repr__(self) -> str:
        return f"PrecomputedBackbone(dim={self.dim})"
