"""The embedding stage: one dataset split through one backbone into a split directory.

The output is the `store` layout (a memory-mappable matrix per field, ids, labels,
relevance, provenance.json), built under a temporary name and renamed into place only
when every field is written. Rows stream from the backbone into shards kept in
`resume_dir`; after an interruption (pre-emption, OOM, Ctrl-C) a rerun skips the rows of
finished shards *without recomputing them* and continues from the first unfinished
shard. A fingerprint in `resume_dir` (backbone provenance, dtype, shard size, the ids of
every field) guards against resuming with shards another configuration made.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_text
from csrbench.backbones.base import describe, require_kind
from csrbench.data.base import Field, Split
from csrbench.devices import hardware_info
from csrbench.store import PROVENANCE, SplitWriter

FINGERPRINT = "resume.json"
DTYPES = ("float32", "float16")


def extract_split(
    split: Split,
    backbone: Any,
    out_dir: str | os.PathLike[str],
    resume_dir: str | os.PathLike[str],
    batch_size: int = 64,
    shard_rows: int = 8192,
    dtype: str = "float32",
    progress: bool = True,
    fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Embed the split's fields with `backbone` and commit them to `out_dir`.

    `fields` selects fields by name (default: all); every selected field must be of a
    kind the backbone embeds, checked before any work starts. Relevance is written when
    both of its fields are selected. Returns the committed provenance.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if batch_size < 1 or shard_rows < 1:
        raise ValueError(f"batch_size and shard_rows must be >= 1 ({batch_size}, {shard_rows})")
    names = list(split.fields) if fields is None else list(fields)
    for name in names:
        if name not in split.fields:
            raise ValueError(f"split has no field {name!r}; fields: {sorted(split.fields)}")
        try:
            require_kind(backbone, split.fields[name])
        except ValueError as err:
            raise ValueError(
                f"{err} (dataset {split.dataset!r}, split {split.split!r}; pick a backbone "
                "of that kind or select fields explicitly)"
            ) from None

    out, resume = Path(out_dir), Path(resume_dir)
    _check_fingerprint(resume, _fingerprint(split, names, backbone, dtype, shard_rows))

    seconds: dict[str, float] = {}
    rates: dict[str, float | None] = {}
    resumed: dict[str, int] = {}
    with SplitWriter(out, resume) as writer:
        for name in names:
            fld = split.fields[name]
            n = len(fld.ids)
            shard_dir = resume / f"{name}.shards"
            skip, d_done = _finished_rows(shard_dir, shard_rows, n)
            bar = _progress(f"{split.dataset}/{split.split}/{name}", n, progress)
            t0 = time.perf_counter()
            try:
                writer.write_field(
                    name,
                    _stream(backbone, fld, skip, d_done, batch_size, shard_rows),
                    ids=fld.ids,
                    labels=fld.labels,
                    dtype=dtype,
                    shard_rows=shard_rows,
                    on_rows=bar.update,
                )
            finally:
                bar.close()
            seconds[name] = round(time.perf_counter() - t0, 4)
            computed = n - skip
            rates[name] = round(computed / seconds[name], 2) if seconds[name] > 0 else None
            resumed[name] = skip
        rel = split.relevance
        if rel is not None and rel.source in names and rel.target in names:
            writer.write_relevance(rel)
        bprov = backbone.provenance()
        prov = {
            "dataset": split.dataset,
            "split": split.split,
            "data": dict(split.provenance),
            "backbone": bprov,
            "n": {name: writer.fields[name]["n"] for name in names},
            "d": getattr(backbone, "dim", None),
            "dtype": dtype,
            "seconds": seconds,
            "items_per_s": rates,
            "resumed_rows": resumed,
            "batch_size": batch_size,
            "shard_rows": shard_rows,
            "device": bprov.get("device"),
            "hardware": hardware_info(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        writer.commit(prov)
    return json.loads((out / PROVENANCE).read_text())


def _stream(
    backbone: Any, fld: Field, skip: int, d_done: int | None, batch_size: int, shard_rows: int
) -> Iterator[np.ndarray]:
    """Placeholder rows for finished shards (never stored: the store skips them), then the
    backbone's batches for the remaining items, checked for width and order."""
    n = len(fld.ids)
    if skip:
        zero = np.zeros((1, d_done or 0), dtype=np.float32)
        for start in range(0, skip, shard_rows):
            yield np.broadcast_to(zero, (min(shard_rows, skip - start), zero.shape[1]))
    produced = 0
    width = d_done
    rest = fld if skip == 0 else _tail(fld, skip)
    batches = backbone.embed(rest, batch_size) if skip < n else iter(())
    for batch in batches:
        if not isinstance(batch, np.ndarray) or batch.ndim != 2:
            raise TypeError(
                f"backbone {describe(backbone)} yielded {type(batch).__name__} "
                f"{getattr(batch, 'shape', '')} for field {fld.name!r}; expected [b, d] arrays"
            )
        if width is not None and batch.shape[1] != width:
            raise ValueError(
                f"backbone {describe(backbone)} yielded width {batch.shape[1]} for field "
                f"{fld.name!r}, expected {width}"
            )
        width = batch.shape[1]
        produced += len(batch)
        yield batch
    if produced != n - skip:
        raise ValueError(
            f"backbone {describe(backbone)} yielded {produced} rows for field {fld.name!r} "
            f"of {n - skip} items"
        )
    if n == 0 and getattr(backbone, "dim", None):
        yield np.zeros((0, int(backbone.dim)), dtype=np.float32)  # keeps d for empty fields


def _tail(fld: Field, skip: int) -> Field:
    return Field(
        name=fld.name,
        kind=fld.kind,
        items=fld.items[skip:],
        ids=fld.ids[skip:],
        labels=None if fld.labels is None else fld.labels[skip:],
    )


def _finished_rows(shard_dir: Path, shard_rows: int, n: int) -> tuple[int, int | None]:
    """Rows covered by consecutive full shards from an earlier run, and their width.

    Mirrors the store's rule: only full shards count (a short final shard is redone).
    """
    rows, d, i = 0, None, 0
    while rows + shard_rows <= n:
        path = shard_dir / f"shard-{i:06d}.npy"
        if not path.exists():
            break
        shape = np.load(path, mmap_mode="r").shape
        if shape[0] != shard_rows:
            break
        rows, d, i = rows + shard_rows, shape[1], i + 1
    return rows, d


def _fingerprint(
    split: Split, names: list[str], backbone: Any, dtype: str, shard_rows: int
) -> dict[str, Any]:
    prov = backbone.provenance()
    prov.pop("dim", None)  # unknown before a precomputed backbone sees data
    ids = {}
    for name in names:
        h = hashlib.sha256()
        for i in split.fields[name].ids:
            h.update(str(i).encode())
            h.update(b"\0")
        ids[name] = h.hexdigest()
    return {
        "dataset": split.dataset,
        "split": split.split,
        "backbone": prov,
        "dtype": dtype,
        "shard_rows": shard_rows,
        "ids_sha256": ids,
    }


def _check_fingerprint(resume: Path, fingerprint: dict[str, Any]) -> None:
    """Discard shards that a different configuration wrote; record ours."""
    path = resume / FINGERPRINT
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    if resume.exists():
        old = path.read_text() if path.exists() else None
        if old != text:
            if any(resume.iterdir()):
                print(
                    f"csrbench: {resume} holds shards of another configuration; discarding them",
                    file=sys.stderr,
                )
            shutil.rmtree(resume)
    resume.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def _progress(desc: str, total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="item",
        file=sys.stderr,
        disable=not enabled,
        mininterval=1.0,
        dynamic_ncols=True,
    )
