"""Retrieval timing on an experiment's own codes: the work behind the `bench` rule.

Queries go in batches of 512 against the database (the eval split's documents for
query->doc data, the training images for image data, the images for caption data; see
`codesdir.search_roles`), timed per engine by `csrbench.timing.time_engine` (a warm-up
batch, then the median of the timed batches). The sweep over database sizes up to
millions of documents is `csrbench.scaling` (rule `scaling`, and
`bench/retrieval_speed.py` outside the workflow).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_json
from csrbench.codes import SparseCodes
from csrbench.codesdir import CodesDir, database_record, search_roles
from csrbench.devices import hardware_info
from csrbench.metrics import l2_normalize
from csrbench.retrieval import available_engines, rows
from csrbench.store import load_split
from csrbench.timing import QUERY_BATCH, TOPK, time_engine

# the keys of an engine's row in the bench JSON (a subset of `EngineTiming.row()`)
ROW_KEYS = (
    "engine",
    "build_s",
    "ms_per_query",
    "ms_per_batch",
    "queries_per_s",
    "index_bytes",
    "bytes_per_doc",
    "repeats",
)


def bench_job(
    codes_dir: str | Path,
    eval_embeddings: str | Path,
    train_split: str,
    eval_split: str,
    out_path: str | Path,
    repeats: int = 5,
    corpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Time every applicable engine on one (method, budget)'s codes; write one JSON.
    `corpus`: further splits whose documents join the database (`evaluate_job`'s)."""
    codes = CodesDir.read(codes_dir)
    roles = search_roles(load_split(eval_embeddings).relevance)
    db_splits = roles.database_splits(train_split, eval_split, corpus)
    database = l2_normalize(_as_float(codes.load_rows(db_splits, roles.database_field)))
    queries = l2_normalize(_as_float(codes.load(eval_split, roles.query_field)))
    kind = "sparse" if isinstance(database, SparseCodes) else "dense"
    engines = [e for e in available_engines(kind) if e != "inverted-torch"]
    timings = [time_engine(e, database, queries, repeats=repeats) for e in engines]
    result = {
        "method": codes.method,
        "k": codes.k,
        "bytes_per_doc_stored": codes.bytes_per_doc,
        "database": database_record(db_splits, roles.database_field, rows(database)),
        "queries": {"split": eval_split, "field": roles.query_field, "n": rows(queries)},
        "query_batch": QUERY_BATCH,
        "topk": TOPK,
        "engines": [{key: t.row()[key] for key in ROW_KEYS} for t in timings],
        "hardware": hardware_info(),
    }
    write_json(Path(out_path), result)
    return result


def _as_float(x: SparseCodes | np.ndarray) -> SparseCodes | np.ndarray:
    """Codes as float32 for the engines (int8/binary/fp16 codes are stored narrower)."""
    if isinstance(x, SparseCodes):
        return SparseCodes(x.indices, x.values.astype(np.float32), x.h)
    return np.ascontiguousarray(x, dtype=np.float32)
