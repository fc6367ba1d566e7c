"""The in-memory contract between dataset loaders and the embedding stage.

A loader turns one split of a dataset into *fields* (the things a backbone embeds:
images, captions, queries, documents) plus the relations the evaluations need
(class labels per row, and relevance judgements between rows of two fields). Every
loader returns the same shape so that the embedding rule, the trainers and the
metrics never special-case a dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

FieldKind = Literal["image", "text", "vector"]


class DataError(ValueError):
    """A dataset cannot be loaded as configured; the message names the key and the fix."""


@dataclass(frozen=True)
class Field:
    """One embeddable column of a split.

    `items` are strings for text; for images either file paths or uint8 arrays
    (H x W grayscale or H x W x 3 RGB), paths keeping ImageNet-sized splits lazy (the
    backbone decodes them batch by batch); for vectors (a user's precomputed
    embeddings) an [n, d] float array that the `precomputed` backbone passes through.
    """

    name: str
    kind: FieldKind
    items: Sequence[Any]
    ids: np.ndarray  # str, unique within the field; stable across runs
    labels: np.ndarray | None = None  # int64 class per row, where the data has classes
    # rows sharing a group stay on one side of the validation carve (pycode: the module)
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.items)
        if len(self.ids) != n:
            raise DataError(f"field {self.name!r}: {len(self.ids)} ids for {n} items")
        if self.labels is not None and len(self.labels) != n:
            raise DataError(f"field {self.name!r}: {len(self.labels)} labels for {n} items")
        if self.groups is not None and len(self.groups) != n:
            raise DataError(f"field {self.name!r}: {len(self.groups)} groups for {n} items")


@dataclass(frozen=True)
class Relevance:
    """Judgements between rows of two fields: (source row, target row, grade > 0).

    pycode: query i -> doc i (grade 1). Captions: caption row -> image row. MTEB
    retrieval: query -> doc with the task's graded qrels. Rows absent here are
    irrelevant.
    """

    source: str  # field name the rows in column 0 index, e.g. "query" or "text"
    target: str  # field name the rows in column 1 index, e.g. "doc" or "image"
    pairs: np.ndarray  # int64 [m, 3]: source row, target row, grade

    def __post_init__(self) -> None:
        if self.pairs.ndim != 2 or self.pairs.shape[1] != 3:
            raise DataError(f"relevance pairs must be [m, 3], got {self.pairs.shape}")


@dataclass(frozen=True)
class Split:
    """One split (train / test / ...) of a dataset, ready to embed."""

    dataset: str
    split: str
    fields: dict[str, Field]
    relevance: Relevance | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.relevance is not None:
            for name in (self.relevance.source, self.relevance.target):
                if name not in self.fields:
                    raise DataError(
                        f"relevance names field {name!r}; fields: {sorted(self.fields)}"
                    )
