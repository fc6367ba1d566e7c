"""On-disk layout of embeddings: one directory per (dataset, backbone, split).

    {split_dir}/provenance.json      what made it: model, weights sha256, n, d, seconds, ...
    {split_dir}/{field}.npy          float matrix [n, d], memory-mappable
    {split_dir}/{field}.ids.npy      str ids [n]
    {split_dir}/{field}.labels.npy   int64 labels [n] (only where the data has classes)
    {split_dir}/relevance.npy        int64 [m, 3] (source row, target row, grade), if any

A split directory is built under a temporary sibling name and renamed into place
only when complete, so an interrupted run never leaves a directory that looks
finished. Matrices are streamed batch by batch into shards (resumable: finished
shards survive an interruption) and then concatenated into one memory-mapped file,
so peak memory is bounded by the shard size, never by n.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import atomic_path, fresh_dir, incomplete_dir, move_into_place
from csrbench.data.base import Relevance

PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class FieldEmbeddings:
    """Embeddings of one field, memory-mapped."""

    name: str
    x: np.ndarray  # [n, d], np.memmap when loaded from disk
    ids: np.ndarray
    labels: np.ndarray | None


@dataclass(frozen=True)
class SplitEmbeddings:
    """Everything the training and evaluation stages read about one split."""

    fields: dict[str, FieldEmbeddings]
    relevance: Relevance | None
    provenance: dict[str, Any]

    def field(self, name: str) -> FieldEmbeddings:
        if name not in self.fields:
            raise KeyError(f"no field {name!r} in this split; fields: {sorted(self.fields)}")
        return self.fields[name]


def load_split(split_dir: str | os.PathLike[str], mmap: bool = True) -> SplitEmbeddings:
    """Open a finished split directory written by `SplitWriter`."""
    root = Path(split_dir)
    prov_path = root / PROVENANCE
    if not prov_path.is_file():
        raise FileNotFoundError(
            f"{root} is not a finished embedding split (no {PROVENANCE}); "
            "run the embed rule for it first"
        )
    prov = json.loads(prov_path.read_text())
    mode = "r" if mmap else None
    fields = {}
    for name in prov["fields"]:
        labels_path = root / f"{name}.labels.npy"
        fields[name] = FieldEmbeddings(
            name=name,
            x=np.load(root / f"{name}.npy", mmap_mode=mode),
            ids=np.load(root / f"{name}.ids.npy"),
            labels=np.load(labels_path) if labels_path.exists() else None,
        )
    relevance = None
    if prov.get("relevance"):
        rel = prov["relevance"]
        relevance = Relevance(rel["source"], rel["target"], np.load(root / "relevance.npy"))
    return SplitEmbeddings(fields=fields, relevance=relevance, provenance=prov)


def write_matrix_streamed(
    path: Path,
    batches: Iterable[np.ndarray],
    n: int,
    dtype: np.dtype | str = np.float32,
    shard_rows: int = 8192,
    shard_dir: Path | None = None,
    on_rows: Any = None,
) -> tuple[int, int]:
    """Write an [n, d] matrix from a stream of row batches; return (n, d).

    Rows are accumulated into shards of `shard_rows` rows saved under `shard_dir`;
    shards already present there (from an interrupted run) are reused and their rows
    skipped in the stream, which the caller must produce in the same order. The
    shards are then concatenated into `path` through a memory map and removed.
    `on_rows(k)` is called as rows are consumed (for a progress bar).
    """
    dtype = np.dtype(dtype)
    shard_dir = shard_dir or path.with_name(path.name + ".shards")
    shard_dir.mkdir(parents=True, exist_ok=True)
    done = _finished_shards(shard_dir, shard_rows)
    skip = len(done) * shard_rows
    pending: list[np.ndarray] = []
    pending_rows = 0
    seen = 0
    d: int | None = None
    for batch in batches:
        batch = np.asarray(batch)
        if batch.ndim != 2:
            raise ValueError(f"embedding batch must be 2-D, got shape {batch.shape}")
        d = batch.shape[1] if d is None else d
        if batch.shape[1] != d:
            raise ValueError(f"embedding width changed from {d} to {batch.shape[1]}")
        start = seen
        seen += len(batch)
        if on_rows is not None:
            on_rows(len(batch))
        if seen <= skip:
            continue
        if start < skip:
            batch = batch[skip - start :]
        pending.append(batch.astype(dtype, copy=False))
        pending_rows += len(batch)
        while pending_rows >= shard_rows:
            rows = np.concatenate(pending)
            _save_shard(shard_dir, len(done), rows[:shard_rows])
            done.append(shard_dir / _shard_name(len(done)))
            rest = rows[shard_rows:]
            pending, pending_rows = ([rest] if len(rest) else []), len(rest)
    if pending_rows:
        _save_shard(shard_dir, len(done), np.concatenate(pending))
        done.append(shard_dir / _shard_name(len(done)))
    if seen != n:
        raise ValueError(f"expected {n} rows, the stream gave {seen}")
    if d is None:  # an empty split: keep the width from an existing shard if any
        d = np.load(done[0], mmap_mode="r").shape[1] if done else 0
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n, d))
        row = 0
        for shard in done:
            block = np.load(shard, mmap_mode="r")
            out[row : row + len(block)] = block
            row += len(block)
        out.flush()
        del out
    shutil.rmtree(shard_dir)
    return n, d


def _shard_name(i: int) -> str:
    return f"shard-{i:06d}.npy"


def _save_shard(shard_dir: Path, i: int, rows: np.ndarray) -> None:
    with atomic_path(shard_dir / _shard_name(i)) as tmp:
        np.save(tmp, rows)


def _finished_shards(shard_dir: Path, shard_rows: int) -> list[Path]:
    """Full shards in order; a short (final) shard is redone since n may have changed."""
    done = []
    i = 0
    while (p := shard_dir / _shard_name(i)).exists():
        if np.load(p, mmap_mode="r").shape[0] != shard_rows:
            break
        done.append(p)
        i += 1
    for stale in shard_dir.glob("shard-*"):
        if stale not in done:
            stale.unlink()
    return done


class SplitWriter:
    """Builds a split directory under a temporary name; `commit()` renames it into place.

    Use as a context manager: leaving the block with an exception deletes the
    temporary directory (finished matrix shards live outside it, in `resume_dir`,
    so a rerun picks up where the interrupted one stopped).
    """

    def __init__(self, split_dir: str | os.PathLike[str], resume_dir: str | os.PathLike[str]):
        self.final = Path(split_dir)
        self.tmp = incomplete_dir(self.final)
        self.resume_dir = Path(resume_dir)
        self.fields: dict[str, dict[str, Any]] = {}
        self.relevance: Relevance | None = None

    def __enter__(self) -> SplitWriter:
        fresh_dir(self.tmp)
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None and self.tmp.exists():
            shutil.rmtree(self.tmp)

    def write_field(
        self,
        name: str,
        batches: Iterator[np.ndarray],
        ids: np.ndarray,
        labels: np.ndarray | None,
        dtype: str = "float32",
        shard_rows: int = 8192,
        on_rows: Any = None,
    ) -> tuple[int, int]:
        n, d = write_matrix_streamed(
            self.tmp / f"{name}.npy",
            batches,
            n=len(ids),
            dtype=dtype,
            shard_rows=shard_rows,
            shard_dir=self.resume_dir / f"{name}.shards",
            on_rows=on_rows,
        )
        np.save(self.tmp / f"{name}.ids.npy", np.asarray(ids, dtype=str))
        if labels is not None:
            np.save(self.tmp / f"{name}.labels.npy", np.asarray(labels, dtype=np.int64))
        self.fields[name] = {"n": n, "d": d, "dtype": dtype}
        return n, d

    def write_relevance(self, relevance: Relevance) -> None:
        np.save(self.tmp / "relevance.npy", relevance.pairs.astype(np.int64))
        self.relevance = relevance

    def commit(self, provenance: dict[str, Any]) -> None:
        prov = dict(provenance)
        prov["fields"] = self.fields
        prov["relevance"] = (
            {
                "source": self.relevance.source,
                "target": self.relevance.target,
                "m": len(self.relevance.pairs),
            }
            if self.relevance is not None
            else None
        )
        (self.tmp / PROVENANCE).write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n")
        move_into_place(self.tmp, self.final)
        if self.resume_dir.exists():
            shutil.rmtree(self.resume_dir)
