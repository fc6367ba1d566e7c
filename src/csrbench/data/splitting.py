"""Helpers the loaders share: config-key naming, parameter checks, deterministic subsets.

Every loader must fail with a message that names the config key to fix, and every
subset (a train/test split, a `limit` for CI) must come out the same on every run and
every machine. Keeping those rules here means the six loaders cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.data.base import DataError

DEFAULT_SPLITS: tuple[str, ...] = ("train", "test")


def config_key(name: str | None, param: str | None = None) -> str:
    """The config path of a dataset (or one of its params), for error messages.

    Loaders receive the dataset's config name as the optional `name` param; without
    it the message still shows where the key lives (`datasets.<name>.params...`).
    """
    base = f"datasets.{name or '<name>'}"
    return f"{base}.params.{param}" if param else base


def check_split(split: str, valid: Iterable[str], name: str | None) -> None:
    """Raise DataError unless `split` is one of `valid` (listed in the message)."""
    valid = list(valid)
    if split not in valid:
        raise DataError(
            f"{config_key(name)}: unknown split {split!r}; this dataset has splits {valid}"
        )


def reject_unknown_params(
    loader: str, unknown: Mapping[str, Any], valid: Iterable[str], name: str | None
) -> None:
    """Turn a mistyped param (which Python reports as a TypeError) into a DataError."""
    if unknown:
        raise DataError(
            f"{config_key(name)}.params: unknown param(s) {sorted(unknown)} for loader "
            f"{loader!r}; valid params: {sorted(valid)}"
        )


def check_limit(limit: Any, name: str | None, param: str = "limit") -> int | None:
    """Validate a `limit`-style param: None or a positive int."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise DataError(
            f"{config_key(name, param)} must be a positive integer or null, got {limit!r}"
        )
    return int(limit)


def check_fraction(value: Any, name: str | None, param: str) -> float:
    """Validate a fraction param that must lie strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise DataError(f"{config_key(name, param)} must be a number in (0, 1), got {value!r}")
    return float(value)


def existing_path(value: Any, name: str | None, param: str, *, kind: str, expect: str) -> Path:
    """Return `value` as a Path that exists, or raise DataError saying what should be there.

    `kind` is "dir" or "file"; `expect` describes the layout the loader wants, so the
    message tells the user how to fix the config rather than only what went wrong.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{config_key(name, param)} is required: {expect}")
    path = Path(value).expanduser()
    if kind == "dir" and not path.is_dir():
        raise DataError(f"{config_key(name, param)}: no directory {str(path)!r}; {expect}")
    if kind == "file" and not path.is_file():
        raise DataError(f"{config_key(name, param)}: no file {str(path)!r}; {expect}")
    return path


def stable_unit(key: str, salt: str = "") -> float:
    """Map a string to [0, 1) with sha1, identical across processes and machines.

    Python's built-in `hash()` is salted per process, so it cannot decide splits.
    """
    digest = hashlib.sha1(f"{salt}{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def stratified_subsample(
    labels: np.ndarray | None, limit: int | None, seed: int = 0, n: int | None = None
) -> np.ndarray:
    """Sorted row indices of a deterministic, label-stratified subset of at most `limit` rows.

    Each class keeps a share proportional to its size (largest-remainder rounding, ties
    to the larger class), as scikit-learn's stratified splits do, so a small CI subset
    has the class balance of the full split; rows within a class are a seeded sample.
    Without labels it is a plain seeded sample. Returns all rows when `limit` is None or
    not smaller than the set.
    """
    total = len(labels) if labels is not None else int(n or 0)
    if limit is None or limit >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(total, size=limit, replace=False)).astype(np.int64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = counts * (limit / total)
    take = np.floor(quota).astype(np.int64)
    remainder = quota - take
    order = np.lexsort((np.arange(len(classes)), -counts, -remainder))
    take[order[: limit - int(take.sum())]] += 1
    chosen = [
        rng.choice(np.flatnonzero(inverse == c), size=int(take[c]), replace=False)
        for c in range(len(classes))
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def subsample_relevance(
    n_source: int,
    n_target: int,
    pairs: np.ndarray,
    limit: int | None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shrink a source/target pair of fields to about `limit` rows each, keeping judgements.

    Keeps a seeded sample of at most `limit` source rows that have a judgement, every
    target row those keep relevant (so each kept query still has its answers, which may
    take the target side past `limit`), then fills the target side with seeded distractors
    up to `limit`. Returns (source rows, target rows, pairs re-indexed to the subset).
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 3)
    if limit is None:
        return np.arange(n_source), np.arange(n_target), pairs
    rng = np.random.default_rng(seed)
    judged = np.unique(pairs[:, 0])
    src = judged if len(judged) <= limit else rng.choice(judged, size=limit, replace=False)
    src = np.sort(src).astype(np.int64)
    kept_pairs = pairs[np.isin(pairs[:, 0], src)]
    tgt = np.unique(kept_pairs[:, 1])
    if len(tgt) < limit:
        rest = np.setdiff1d(np.arange(n_target), tgt)
        extra = rng.choice(rest, size=min(limit - len(tgt), len(rest)), replace=False)
        tgt = np.union1d(tgt, extra)
    tgt = tgt.astype(np.int64)
    src_pos = np.full(n_source, -1, dtype=np.int64)
    src_pos[src] = np.arange(len(src))
    tgt_pos = np.full(n_target, -1, dtype=np.int64)
    tgt_pos[tgt] = np.arange(len(tgt))
    remapped = np.stack(
        [src_pos[kept_pairs[:, 0]], tgt_pos[kept_pairs[:, 1]], kept_pairs[:, 2]], axis=1
    )
    return src, tgt, remapped.reshape(-1, 3)


def label_ids(names: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Map class names to int64 ids in sorted-name order; returns (ids, sorted names)."""
    classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[x] for x in names], dtype=np.int64), classes
