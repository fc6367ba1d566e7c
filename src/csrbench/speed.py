"""Retrieval timing on an experiment's own codes: the work behind the `bench` rule.

Queries go in batches of 512 against the database (the eval split's documents for
query->doc data, the training images for image data, the images for caption data),
after one warm-up batch (numba compiles there), and the median of the timed batches
is reported, per engine. The sweep over database sizes up to millions of documents is
`csrbench.scaling` (rule `scaling`, and `bench/retrieval_speed.py` outside the workflow).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_json
from csrbench.codes import SparseCodes
from csrbench.devices import hardware_info
from csrbench.jobs import CODES_META, load_codes
from csrbench.metrics import l2_normalize
from csrbench.retrieval import available_engines, make_engine
from csrbench.store import load_split

QUERY_BATCH = 512
TOPK = 10


def rows(x: SparseCodes | np.ndarray) -> int:
    return x.n if isinstance(x, SparseCodes) else len(x)


def take(x: SparseCodes | np.ndarray, start: int, stop: int) -> SparseCodes | np.ndarray:
    if isinstance(x, SparseCodes):
        return SparseCodes(x.indices[start:stop], x.values[start:stop], x.h)
    return x[start:stop]


def time_engine(
    name: str, database: Any, queries: Any, repeats: int = 5, device: str = "auto"
) -> dict[str, Any]:
    """Median ms per batch of `QUERY_BATCH` queries for one engine, after a warm-up batch."""
    opts = {"device": device} if name in ("torch", "torch-csr", "inverted-torch") else {}
    start = time.perf_counter()
    engine = make_engine(name, **opts).build(database)
    build_s = time.perf_counter() - start
    n = rows(queries)
    batches = [take(queries, i, i + QUERY_BATCH) for i in range(0, n, QUERY_BATCH)]
    engine.search(batches[0], TOPK)  # warm-up
    times = []
    for i in range(repeats):
        batch = batches[i % len(batches)]
        start = time.perf_counter()
        engine.search(batch, TOPK)
        times.append((time.perf_counter() - start) / rows(batch))
    ms_per_query = statistics.median(times) * 1e3
    return {
        "engine": name,
        "build_s": build_s,
        "ms_per_query": ms_per_query,
        "ms_per_batch": ms_per_query * QUERY_BATCH,
        "queries_per_s": 1e3 / ms_per_query,
        "index_bytes": int(engine.index_bytes),
        "bytes_per_doc": float(engine.bytes_per_doc),
        "repeats": repeats,
    }


def bench_job(
    codes_dir: str | Path,
    eval_embeddings: str | Path,
    train_split: str,
    eval_split: str,
    out_path: str | Path,
    repeats: int = 5,
) -> dict[str, Any]:
    """Time every applicable engine on one (method, budget)'s codes; write one JSON."""
    codes_dir = Path(codes_dir)
    meta = json.loads((codes_dir / CODES_META).read_text())
    test = load_split(eval_embeddings)
    rel = test.relevance
    if rel is not None:
        db_split, db_field, q_field = eval_split, rel.target, rel.source
    else:
        db_split, db_field, q_field = train_split, "image", "image"
    database = l2_normalize(_as_float(load_codes(codes_dir, db_split, db_field)))
    queries = l2_normalize(_as_float(load_codes(codes_dir, eval_split, q_field)))
    kind = "sparse" if isinstance(database, SparseCodes) else "dense"
    engines = [e for e in available_engines(kind) if e != "inverted-torch"]
    result = {
        "method": meta["method"],
        "k": meta["k"],
        "bytes_per_doc_stored": meta["bytes_per_doc"],
        "database": {"split": db_split, "field": db_field, "n": rows(database)},
        "queries": {"split": eval_split, "field": q_field, "n": rows(queries)},
        "query_batch": QUERY_BATCH,
        "topk": TOPK,
        "engines": [time_engine(e, database, queries, repeats) for e in engines],
        "hardware": hardware_info(),
    }
    write_json(Path(out_path), result)
    return result


def _as_float(x: SparseCodes | np.ndarray) -> SparseCodes | np.ndarray:
    """Codes as float32 for the engines (int8/binary/fp16 codes are stored narrower)."""
    if isinstance(x, SparseCodes):
        return SparseCodes(x.indices, x.values.astype(np.float32), x.h)
    return np.ascontiguousarray(x, dtype=np.float32)
