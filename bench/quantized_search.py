"""Search over quantized codes (`csrbench.retrieval.quantized`) against the float32 engines.

    python bench/quantized_search.py                          # n = 50,000 (~1 min on 2 cores)
    python bench/quantized_search.py --sizes 50000 1000000    # the full table (minutes)

A quantized index is only worth it if reading fewer bytes does not cost more time than
it saves, so every quantized engine is timed beside the float32 engine of its kind, on
the same data and queries, and printed with both ratios (time and index bytes):

* sparse: synthetic k-of-h codes (default k=32, h=1536, CSR on MiniLM) with Zipf-like
  latent usage (`retrieval.synthetic`), stored as float16 as the methods store them;
  `inverted` (float32 postings, 6 bytes each) against the same numba engine over the
  sq8 / sq4 words (1-byte values, 3 bytes per posting), queries carrying the steps;
* dense: random unit vectors of width d (default 384); faiss IndexFlatIP (float32)
  against faiss IndexScalarQuantizer over our f16 / sq8 / sq4 bytes, and against the
  torch word scan (a chunk of words unpacked to float32, then one BLAS matmul for the
  whole query batch) over the same bytes and over `bin`'s bits.

Codebooks are fitted on a separate training draw. Each engine answers one small warm-up
batch (numba compiles there), then `--repeats` batches of `--batch` queries, the
engines taking turns batch by batch (fewer for an engine whose `--budget` seconds run
out); the median ms per query is reported, at one thread and at every core
(`--threads`, 0 = all). "agree" is the mean overlap of the top-k ids with the
float32 engine's on the first timed batch (what the quantization changes, not the
search: that the search is exact over the decoded codes is what the tests check).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_json
from csrbench.codecs import Codebook, Quantized, codec
from csrbench.retrieval import Database, make_engine, rows
from csrbench.retrieval.quantized import QuantizedIndex, backends
from csrbench.retrieval.synthetic import sample_codes
from csrbench.scaling import dense_unit
from csrbench.timing import batches, bench_hardware, set_threads

DEFAULT_OUT = "results/bench/quantized_search_cpu.json"
ENCODE_ROWS = 1 << 16  # rows encoded at a time: the codecs' temporaries are [rows, m]


def encode(book: Codebook, x: Database) -> Quantized:
    """`book.encode(x)` in row chunks: the same words, without the codecs' [n, d]-sized
    temporaries (several GB each for a 1M x 384 database)."""
    parts = [book.encode(part) for part in batches(x, ENCODE_ROWS)]
    words = np.concatenate([p.words for p in parts])
    indices = None if parts[0].indices is None else np.concatenate([p.indices for p in parts])
    return replace(parts[0], words=words, indices=indices)


def overlap(ids: np.ndarray, ref: np.ndarray) -> float:
    """Mean fraction of each row's ids that the reference row also has."""
    hits = (ids[:, :, None] == ref[:, None, :]).any(axis=2)
    return float(hits.mean())


def build_engines(
    names: list[tuple[str, str | None]], db: Database, train: Database
) -> list[dict[str, Any]]:
    """Each (name, backend) built on db: float32 engines by name (backend None), the
    quantized ones as (codec, backend) with a codebook fitted on `train`."""
    built = []
    for name, backend in names:
        t0 = time.perf_counter()
        if backend is None:
            opts = {"device": "cpu"} if name == "torch" else {}
            engine: Any = make_engine(name, **opts).build(db)
            label, cname = f"{name} (float32)", "float32"
        else:
            book = codec(name).fit(train)
            engine = QuantizedIndex(book, backend, device="cpu").build(encode(book, db))
            label, cname = f"{backend} ({name})", name
        built.append(
            {"engine": engine, "label": label, "codec": cname, "build_s": time.perf_counter() - t0}
        )
    return built


def time_interleaved(
    built: list[dict[str, Any]],
    warmup: Database,
    timed: list[Database],
    args: argparse.Namespace,
) -> list[tuple[list[float], np.ndarray]]:
    """(seconds per query of each timed batch, first batch's ids) per engine. Every
    engine answers the warm-up batch, then the repeats go round robin over the engines
    (repeat r: batch r for each), so that drift of a shared machine hits all of them
    alike; an engine drops out once its next batch would overrun `--budget`."""
    for b in built:
        b["engine"].search(warmup, args.topk)
    per_query: list[list[float]] = [[] for _ in built]
    first_ids: list[np.ndarray] = [np.empty(0) for _ in built]
    spent = [0.0 for _ in built]
    for batch in islice(cycle(timed), args.repeats):
        for j, b in enumerate(built):
            done = len(per_query[j])
            if done and spent[j] * (done + 1) / done > args.budget:
                continue  # one more batch (at its mean so far) would overrun the budget
            t = time.perf_counter()
            _, ids = b["engine"].search(batch, args.topk)
            dt = time.perf_counter() - t
            per_query[j].append(dt / rows(batch))
            spent[j] += dt
            if not done:
                first_ids[j] = ids
    results = list(zip(per_query, first_ids, strict=True))
    return results


def run_size(n: int, args: argparse.Namespace, threads: list[int]) -> list[dict[str, Any]]:
    """Every engine of every kind at database size n, each at every thread count."""
    out: list[dict[str, Any]] = []
    nq = args.batch * args.repeats
    for kind in args.kinds:
        t0 = time.perf_counter()
        if kind == "sparse":
            gen = dict(h=args.h, k=args.k, exponent=args.zipf)
            db: Database = sample_codes(n, seed=args.seed, **gen)
            train: Database = sample_codes(args.train, seed=args.seed + 1, **gen)
            qs: Database = sample_codes(nq, seed=args.seed + 2, **gen)
            warmup: Database = sample_codes(args.warmup, seed=args.seed + 3, **gen)
            names = [("inverted", None)] + [(c, "inverted") for c in args.sparse_codecs]
        else:
            db = dense_unit(n, args.d, args.seed)
            train = dense_unit(args.train, args.d, args.seed + 1)
            qs = dense_unit(nq, args.d, args.seed + 2)
            warmup = dense_unit(args.warmup, args.d, args.seed + 3)
            names = [("faiss", None), ("torch", None)] + [
                (c, b)
                for c in args.dense_codecs
                for b in args.dense_backends
                if b in backends(c, False)
            ]
        built = build_engines(names, db, train)
        print(f"\nn={n:,} {kind}: data and indexes in {time.perf_counter() - t0:.1f}s", flush=True)
        for t in threads:
            set_threads(t)
            timings = time_interleaved(built, warmup, batches(qs, args.batch), args)
            ref_ms = statistics.median(timings[0][0]) * 1e3  # the first float32 engine
            ref_ids, ref = timings[0][1], built[0]
            for b, (per_query, ids) in zip(built, timings, strict=True):
                engine = b["engine"]
                row = {
                    "n": n,
                    "kind": kind,
                    "engine": b["label"],
                    "codec": b["codec"],
                    "threads": t,
                    "build_s": b["build_s"],
                    "repeats": len(per_query),
                    "ms_per_query": statistics.median(per_query) * 1e3,
                    "ms_per_query_all": [s * 1e3 for s in per_query],
                    "index_bytes": int(engine.index_bytes),
                    "bytes_per_doc": float(engine.bytes_per_doc),
                    "reference": ref["label"],
                }
                row["x_time"] = row["ms_per_query"] / ref_ms
                row["x_bytes"] = row["index_bytes"] / ref["engine"].index_bytes
                row["agree"] = overlap(ids, ref_ids)
                out.append(row)
                print(format_row(row), flush=True)
        del built
    return out


HEADER = (
    f"{'n':>9} {'kind':6} {'engine':20} {'thr':>3} {'ms/query':>9} {'index MB':>9} "
    f"{'B/doc':>7} {'x time':>7} {'x bytes':>7} {'agree':>6}"
)


def format_row(r: dict[str, Any]) -> str:
    return (
        f"{r['n']:>9,} {r['kind']:6} {r['engine']:20} {r['threads']:>3} "
        f"{r['ms_per_query']:>9.4f} {r['index_bytes'] / 2**20:>9.1f} {r['bytes_per_doc']:>7.1f} "
        f"{r['x_time']:>7.2f} {r['x_bytes']:>7.3f} {r['agree']:>6.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[50_000])
    p.add_argument("--kinds", nargs="+", choices=["sparse", "dense"], default=["sparse", "dense"])
    p.add_argument("--sparse-codecs", nargs="+", default=["sq8", "sq4"])
    p.add_argument("--dense-codecs", nargs="+", default=["f16", "sq8", "sq4", "bin"])
    p.add_argument(
        "--dense-backends", nargs="+", choices=["faiss", "torch"], default=["faiss", "torch"]
    )
    p.add_argument("--h", type=int, default=1536, help="latents of the sparse codes")
    p.add_argument("--k", type=int, default=32, help="active latents per sparse code")
    p.add_argument("--d", type=int, default=384, help="dense width")
    p.add_argument("--zipf", type=float, default=0.5, help="Zipf exponent of latent usage")
    p.add_argument("--train", type=int, default=20_000, help="rows the codebooks are fit on")
    p.add_argument("--batch", type=int, default=512, help="queries per timed batch")
    p.add_argument("--warmup", type=int, default=32, help="queries in the warm-up batch")
    p.add_argument("--topk", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5, help="timed batches (median reported)")
    p.add_argument(
        "--budget", type=float, default=30.0, help="timed seconds per engine and thread count"
    )
    p.add_argument("--threads", type=int, nargs="+", default=[1, 0], help="0 = all cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help="JSON of the table ('' to skip)")
    args = p.parse_args(argv)

    cores = os.cpu_count() or 1
    threads = [t or cores for t in args.threads]
    hardware = bench_hardware()
    print(f"{hardware.get('cpu_model', '')}, {cores} cores; threads {threads}", flush=True)
    print(HEADER)
    table = [row for n in args.sizes for row in run_size(n, args, threads)]
    set_threads(cores)
    print("\n" + HEADER)
    for row in table:
        print(format_row(row))
    if args.out:
        config = {k: v for k, v in vars(args).items() if k != "out"}
        write_json(Path(args.out), {"config": config, "hardware": hardware, "rows": table})
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
