"""A user's own embeddings, given as `.npy` files: CSR and the baselines on any backbone.

Users who already embedded their data (any model, any modality) point the config at
the arrays; the `precomputed` backbone passes the vectors through unchanged. Arrays
are memory-mapped so a large matrix is not read into memory twice. Params:

    splits:
      train:
        fields:
          image: {embeddings: train_x.npy, labels: train_y.npy, ids: train_ids.npy}
      test:
        fields:
          text:  {embeddings: test_t.npy}
          image: {embeddings: test_x.npy}
        relevance: {source: text, target: image, pairs: test_pairs.npy}
    root: optional directory that relative paths are resolved against
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.data.base import DataError, Field, Relevance, Split
from csrbench.data.splitting import (
    check_limit,
    check_split,
    config_key,
    reject_unknown_params,
    stratified_subsample,
    subsample_relevance,
)

PARAMS = ("name", "splits", "root", "limit", "seed")
FIELD_KEYS = ("embeddings", "labels", "ids")
RELEVANCE_KEYS = ("source", "target", "pairs")
LAYOUT = (
    "expected splits: {<split>: {fields: {<field>: {embeddings: x.npy, labels: y.npy "
    "(optional), ids: ids.npy (optional)}}, relevance: {source: <field>, target: <field>, "
    "pairs: pairs.npy} (optional)}}"
)


def _array(value: Any, root: Path | None, key: str, mmap: bool) -> np.ndarray:
    """Load one `.npy` file (memory-mapped when asked), naming the config key on failure."""
    if not isinstance(value, str | os.PathLike) or not str(value):
        raise DataError(f"{key} must be a path to a .npy file, got {value!r}; {LAYOUT}")
    path = Path(value).expanduser()
    if root is not None and not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise DataError(f"{key}: no file {str(path)!r}; save the array with numpy.save")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{key}: {str(path)!r} is not a readable .npy array ({err})") from err


def _field(field_name: str, spec: Any, root: Path | None, key: str) -> tuple[Field, dict[str, Any]]:
    if not isinstance(spec, Mapping) or "embeddings" not in spec:
        raise DataError(f"{key} must be a mapping with at least 'embeddings'; {LAYOUT}")
    extra = sorted(set(spec) - set(FIELD_KEYS))
    if extra:
        raise DataError(f"{key}: unknown key(s) {extra}; valid: {list(FIELD_KEYS)}")
    emb = _array(spec["embeddings"], root, f"{key}.embeddings", mmap=True)
    if emb.ndim != 2 or not np.issubdtype(emb.dtype, np.floating):
        raise DataError(
            f"{key}.embeddings must be a 2-D float array [n, d], got shape {emb.shape} "
            f"dtype {emb.dtype}"
        )
    n = emb.shape[0]
    labels = None
    if spec.get("labels") is not None:
        labels = _array(spec["labels"], root, f"{key}.labels", mmap=False)
        if labels.ndim != 1 or len(labels) != n or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{key}.labels must be a 1-D integer array of length {n} (one class per "
                f"embedding row), got shape {labels.shape} dtype {labels.dtype}"
            )
        labels = labels.astype(np.int64)
    if spec.get("ids") is not None:
        ids = _array(spec["ids"], root, f"{key}.ids", mmap=False)
        if ids.ndim != 1 or len(ids) != n:
            raise DataError(
                f"{key}.ids must be a 1-D array of length {n} (one id per embedding row), "
                f"got shape {ids.shape}"
            )
        ids = ids.astype(str)
        if len(np.unique(ids)) != n:
            raise DataError(f"{key}.ids must be unique within the field")
    else:
        ids = np.array([f"{field_name}-{i}" for i in range(n)])
    info = {"n": int(n), "d": int(emb.shape[1]), "dtype": str(emb.dtype)}
    info.update({k: str(spec[k]) for k in FIELD_KEYS if spec.get(k) is not None})
    return Field(field_name, "vector", emb, ids, labels), info


def _relevance(spec: Any, fields: Mapping[str, Field], root: Path | None, key: str) -> Relevance:
    if not isinstance(spec, Mapping) or set(spec) != set(RELEVANCE_KEYS):
        raise DataError(f"{key} must have exactly the keys {list(RELEVANCE_KEYS)}; {LAYOUT}")
    for end in ("source", "target"):
        if spec[end] not in fields:
            raise DataError(f"{key}.{end}: no field {spec[end]!r}; fields: {sorted(fields)}")
    pairs = _array(spec["pairs"], root, f"{key}.pairs", mmap=False)
    if pairs.ndim != 2 or pairs.shape[1] != 3 or not np.issubdtype(pairs.dtype, np.integer):
        raise DataError(
            f"{key}.pairs must be an integer array [m, 3] of (source row, target row, grade), "
            f"got shape {pairs.shape} dtype {pairs.dtype}"
        )
    pairs = pairs.astype(np.int64)
    n_src, n_tgt = len(fields[spec["source"]].items), len(fields[spec["target"]].items)
    if len(pairs) and (
        pairs[:, 0].min() < 0
        or pairs[:, 0].max() >= n_src
        or pairs[:, 1].min() < 0
        or pairs[:, 1].max() >= n_tgt
        or pairs[:, 2].min() <= 0
    ):
        raise DataError(
            f"{key}.pairs: rows must index 0..{n_src - 1} of {spec['source']!r} and "
            f"0..{n_tgt - 1} of {spec['target']!r}, with grades > 0"
        )
    return Relevance(spec["source"], spec["target"], pairs)


def _subset(field: Field, rows: np.ndarray) -> Field:
    labels = field.labels[rows] if field.labels is not None else None
    return Field(field.name, field.kind, np.asarray(field.items)[rows], field.ids[rows], labels)


def load(
    split: str,
    *,
    name: str | None = None,
    splits: Mapping[str, Any] | None = None,
    root: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    **unknown: Any,
) -> Split:
    """Load one split of precomputed embeddings (field kind "vector").

    `limit` keeps at most that many rows per field: label-stratified where a field
    has labels; with relevance, a seeded sample of judged source rows, their relevant
    targets and seeded distractors.
    """
    reject_unknown_params("precomputed", unknown, PARAMS, name)
    if not isinstance(splits, Mapping) or not splits:
        raise DataError(f"{config_key(name, 'splits')} is required; {LAYOUT}")
    check_split(split, splits, name)
    limit = check_limit(limit, name)
    base = Path(root).expanduser() if root is not None else None
    if base is not None and not base.is_dir():
        raise DataError(f"{config_key(name, 'root')}: no directory {str(base)!r}")
    key = config_key(name, f"splits.{split}")
    spec = splits[split]
    if not isinstance(spec, Mapping) or not isinstance(spec.get("fields"), Mapping):
        raise DataError(f"{key} must have a 'fields' mapping; {LAYOUT}")
    if not spec["fields"]:
        raise DataError(f"{key}.fields is empty; {LAYOUT}")
    extra = sorted(set(spec) - {"fields", "relevance"})
    if extra:
        raise DataError(f"{key}: unknown key(s) {extra}; valid: ['fields', 'relevance']")

    fields: dict[str, Field] = {}
    info: dict[str, Any] = {}
    for field_name, field_spec in spec["fields"].items():
        fields[field_name], info[field_name] = _field(
            str(field_name), field_spec, base, f"{key}.fields.{field_name}"
        )
    relevance = None
    if spec.get("relevance") is not None:
        relevance = _relevance(spec["relevance"], fields, base, f"{key}.relevance")

    if limit is not None:
        if relevance is not None:
            src_name, tgt_name = relevance.source, relevance.target
            src_rows, tgt_rows, pairs = subsample_relevance(
                len(fields[src_name].items),
                len(fields[tgt_name].items),
                relevance.pairs,
                limit,
                seed,
            )
            if tgt_name == src_name:  # self-relevance: one row set, pairs re-indexed into it
                rows = np.union1d(src_rows, tgt_rows)
                position = np.full(len(fields[src_name].items), -1, dtype=np.int64)
                position[rows] = np.arange(len(rows))
                kept = relevance.pairs[np.isin(relevance.pairs[:, 0], src_rows)]
                pairs = np.stack([position[kept[:, 0]], position[kept[:, 1]], kept[:, 2]], 1)
                fields[src_name] = _subset(fields[src_name], rows)
            else:
                fields[src_name] = _subset(fields[src_name], src_rows)
                fields[tgt_name] = _subset(fields[tgt_name], tgt_rows)
            relevance = Relevance(src_name, tgt_name, pairs.reshape(-1, 3))
        for field_name, field in fields.items():
            if relevance is not None and field_name in (relevance.source, relevance.target):
                continue
            rows = stratified_subsample(field.labels, limit, seed=seed, n=len(field.items))
            fields[field_name] = _subset(field, rows)

    return Split(
        dataset=name or "precomputed",
        split=split,
        fields=fields,
        relevance=relevance,
        provenance={
            "loader": "precomputed",
            "params": {"root": str(base) if base else None, "limit": limit, "seed": seed},
            "fields": info,
            "relevance": (
                {k: str(v) for k, v in spec["relevance"].items()} if spec.get("relevance") else None
            ),
            "n": {f: len(fld.items) for f, fld in fields.items()},
        },
    )
