"""An `encode` output directory, read once: what the codes are and where each field's are.

`encode` writes `results/codes/{exp}/{method}/{budget}/` holding `codes.json` (method,
k, whether the codes are sparse, bytes per document, the model, and per split the
embeddings it came from and each field's shape) and one `{split}/{field}.npz` (fixed-k
SparseCodes) or `.npy` (dense) per field. `evaluate`, `bench` and `scaling` read it
through `CodesDir` instead of each parsing the JSON; `search_roles` is the one place
that decides which field is searched (the database), from which splits, and which
searches (the queries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.codes import SparseCodes
from csrbench.data.base import Relevance

META = "codes.json"  # the metadata file `jobs.encode_job` writes beside the codes
_KEYS = ("method", "k", "sparse", "bytes_per_doc", "model", "splits")


@dataclass(frozen=True)
class FieldCodes:
    """One field's codes as `codes.json` describes them."""

    shape: tuple[int, int]  # [n, k] for sparse codes, [n, width] for dense ones
    h: int | None  # latents of sparse codes; None for dense codes
    seconds: float  # encode time


@dataclass(frozen=True)
class SplitCodes:
    embeddings: str  # the split directory the codes were encoded from
    fields: dict[str, FieldCodes]


@dataclass(frozen=True)
class CodesDir:
    path: Path
    method: str
    k: int | None  # the budget (None for unbudgeted methods: full, int8, binary)
    sparse: bool
    bytes_per_doc: float  # storage per document at this budget (the bytes axis)
    model: str
    splits: dict[str, SplitCodes]

    @classmethod
    def read(cls, path: str | Path) -> CodesDir:
        """Parse `path/codes.json`; a clear error when it is missing or incomplete."""
        path = Path(path)
        meta_file = path / META
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"{meta_file} does not exist: {path} is not a finished `encode` output "
                "(run the workflow's encode rule for it)"
            )
        meta: dict[str, Any] = json.loads(meta_file.read_text())
        missing = [key for key in _KEYS if key not in meta]
        if missing:
            raise ValueError(
                f"{meta_file} lacks {missing}: written by another version of `encode`; "
                "delete the directory and encode again"
            )
        splits = {
            name: SplitCodes(
                embeddings=split["embeddings"],
                fields={
                    field: FieldCodes(tuple(f["shape"]), f.get("h"), f["seconds"])
                    for field, f in split["fields"].items()
                },
            )
            for name, split in meta["splits"].items()
        }
        return cls(
            path=path,
            method=meta["method"],
            k=meta["k"],
            sparse=meta["sparse"],
            bytes_per_doc=meta["bytes_per_doc"],
            model=meta["model"],
            splits=splits,
        )

    def load(self, split: str, field: str) -> SparseCodes | np.ndarray:
        """One field's codes of one split (SparseCodes or a dense [n, width] array)."""
        if split not in self.splits:
            raise ValueError(
                f"{self.path} holds no codes of split {split!r}; it has {sorted(self.splits)}"
            )
        fields = self.splits[split].fields
        if field not in fields:
            raise ValueError(
                f"{self.path} holds no codes of field {field!r} in split {split!r}; "
                f"it has {sorted(fields)}"
            )
        sparse = self.path / split / f"{field}.npz"
        if sparse.exists():
            return SparseCodes.load(sparse)
        dense = self.path / split / f"{field}.npy"
        if not dense.exists():
            raise FileNotFoundError(
                f"{self.path / META} lists {split}/{field}, but {dense} "
                "and its .npz are missing: encode again"
            )
        return np.load(dense)

    def load_rows(self, splits: Sequence[str], field: str) -> SparseCodes | np.ndarray:
        """One field's codes of several splits, stacked in the given order (a corpus of
        the eval split's documents followed by the other splits')."""
        parts = [self.load(split, field) for split in splits]
        if len(parts) == 1:
            return parts[0]
        if isinstance(parts[0], SparseCodes):
            assert all(isinstance(p, SparseCodes) for p in parts)
            return SparseCodes(
                np.concatenate([p.indices for p in parts]),  # type: ignore[union-attr]
                np.concatenate([p.values for p in parts]),  # type: ignore[union-attr]
                parts[0].h,
            )
        return np.concatenate(parts)

    @property
    def active_dims(self) -> int | None:
        """Dimensions a code uses: k, or for unbudgeted methods the codes' width."""
        if self.k is not None:
            return int(self.k)
        for split in self.splits.values():
            for field in split.fields.values():
                return int(field.shape[1])
        return None


@dataclass(frozen=True)
class SearchRoles:
    """Which field is the database and which the queries of an experiment's search."""

    database_field: str
    query_field: str
    within_split: bool  # relevance pairs the two fields within one split

    def database_split(self, train_split: str, eval_split: str) -> str:
        """The eval split's own documents where relevance pairs its fields; else (image
        kNN) the training images, searched by the eval split's."""
        return eval_split if self.within_split else train_split

    def database_splits(
        self, train_split: str, eval_split: str, corpus: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """The splits whose database-field rows are searched, in the order they stack.

        `corpus` (an experiment's `corpus: all`) appends other splits' documents to the
        eval split's; relevance rows index the eval split's documents, which come
        first, so the judgements hold unchanged. Only query->doc retrieval has a corpus
        to grow: image kNN searches the training images, and image-text recall pairs
        each caption with its own split's images.
        """
        if corpus and (self.database_field, self.query_field) != ("doc", "query"):
            raise ValueError(
                f"corpus splits {list(corpus)} apply to query->doc retrieval only; this data "
                f"searches {self.database_field!r} with {self.query_field!r}: set the "
                "experiment's `corpus: eval`"
            )
        first = self.database_split(train_split, eval_split)
        return (first, *(s for s in corpus if s != first))


def database_record(splits: Sequence[str], field: str, n: int | None = None) -> dict[str, Any]:
    """How a result file records its search database: the first split, the further
    splits of its corpus, the field and (where known) the number of rows."""
    record: dict[str, Any] = {"split": splits[0], "corpus": list(splits[1:]), "field": field}
    if n is not None:
        record["n"] = n
    return record


def search_roles(relevance: Relevance | None) -> SearchRoles:
    """The relevance pairs' target is searched by their source (query->doc, text->image);
    data without relevance searches images with images."""
    if relevance is not None:
        return SearchRoles(relevance.target, relevance.source, within_split=True)
    return SearchRoles("image", "image", within_split=False)
