"""Retrieval speed of the dense and sparse engines, and how it scales with database size.

    python bench/retrieval_speed.py --sizes 10000 100000 1000000 --out speed.json

Dense engines search random unit vectors of width --d (the backbone's full width, the
paper's dense baseline); sparse engines search synthetic k-of-h codes whose latents are
used with given frequencies (--freq: a .npy vector or a codes .npz to take them from;
default Zipf-like, --zipf), so posting lists have realistic lengths. Queries come in
batches of --batch; after one warm-up batch, --repeats other batches are timed and the
median is reported. Every engine is printed beside its memory-bandwidth floor: the
bytes its algorithm must read per batch divided by the read bandwidth measured here.

- dense flat (faiss, torch): the database once per batch, n * d * 4 bytes
- torch-csr: the document CSR once per batch (column index + value per nonzero)
- inverted engines (query at a time): the posting lists of each query's active latents,
  summed over the batch's queries; 'index once' (each byte of the lists touched by the
  batch read once) is printed too, as the bound a batch-shared traversal could approach

Peak memory is the process RSS high-water mark above the level before the engine was
built (sampled every 5 ms), plus torch's CUDA peak on GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from csrbench.codes import SparseCodes
from csrbench.retrieval import ENGINES, available_engines, make_engine
from csrbench.retrieval.inverted import posting_list_lengths, postings_touched
from csrbench.retrieval.synthetic import sample_codes, usage_frequencies, zipf_frequencies

DEFAULT_ENGINES = ["faiss", "torch", "torch-csr", "inverted", "inverted-torch"]
# engines too slow for the largest CPU sizes unless asked for (max n on CPU)
CPU_MAX_N = {"inverted-torch": 100_000}


# ------------------------------------------------------------------------ environment


def hardware() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_at_start": os.getloadavg(),
    }
    try:
        import faiss

        info["faiss"] = faiss.__version__
        info["faiss_gpus"] = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        info["faiss"] = None
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except ImportError:
        info["numba"] = None
    return info


def read_bandwidth(gib: float = 1.0, repeats: int = 5) -> dict[str, float]:
    """Read bandwidth in GB/s: best of `repeats` full sums over a `gib` GiB buffer,
    with numpy (one thread) and torch (all its threads), and on the GPU if present."""
    n = int(gib * 2**30) // 4
    out = _sum_bandwidth(torch.ones(n, dtype=torch.float32), repeats)
    out["cpu_gbs"] = max(out["numpy_gbs"], out["torch_gbs"])
    if torch.cuda.is_available():
        g = _sum_bandwidth(torch.ones(4 * n, dtype=torch.float32, device="cuda"), repeats)
        out["gpu_gbs"] = g["torch_gbs"]
        torch.cuda.empty_cache()
    return out


def _sum_bandwidth(x: torch.Tensor, repeats: int) -> dict[str, float]:
    cuda = x.is_cuda

    def torch_sum() -> None:
        x.sum()
        if cuda:
            torch.cuda.synchronize()

    fns = {"torch": torch_sum} if cuda else {"numpy": lambda: x.numpy().sum(), "torch": torch_sum}
    out = {}
    for name, fn in fns.items():
        fn()
        best = min(_timed(fn) for _ in range(repeats))
        out[f"{name}_gbs"] = x.numel() * 4 / best / 1e9
    return out


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


class PeakRSS:
    """Samples the process RSS in a thread; `peak` is the high-water mark (bytes)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


# ------------------------------------------------------------------------ data


def dense_unit(n: int, d: int, seed: int) -> np.ndarray:
    """[n, d] float32 random unit vectors (torch's generator: fast and multi-threaded)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    x /= x.norm(dim=1, keepdim=True)
    return x.numpy()


def load_frequencies(path: str | None, h: int, zipf: float) -> tuple[np.ndarray, str]:
    if path is None:
        return zipf_frequencies(h, zipf), f"zipf(exponent={zipf})"
    if path.endswith(".npz"):
        codes = SparseCodes.load(path)
        if codes.h != h:
            raise SystemExit(f"--freq codes have h={codes.h}, but --h is {h}")
        return usage_frequencies(codes), f"usage of {path}"
    freq = np.load(path)
    if len(freq) != h:
        raise SystemExit(f"--freq vector has {len(freq)} entries, --h is {h}")
    return freq, f"vector {path}"


def batches(x: Any, size: int) -> list[Any]:
    n = x.n if isinstance(x, SparseCodes) else len(x)
    if isinstance(x, SparseCodes):
        return [
            SparseCodes(x.indices[i : i + size], x.values[i : i + size], x.h)
            for i in range(0, n, size)
        ]
    return [x[i : i + size] for i in range(0, n, size)]


# ------------------------------------------------------------------------ measurement


def floor_bytes(
    engine: Any, name: str, n: int, d: int, batch: Any, lengths: np.ndarray | None
) -> dict[str, float]:
    """Bytes per batch the engine's algorithm must read (see module docstring)."""
    if ENGINES[name].kind == "dense":
        return {"floor_bytes": float(n * d * 4)}
    if name == "torch-csr":
        nnz = int(lengths.sum())
        return {"floor_bytes": float(nnz * (8 + 4))}  # int64 column + float32 value
    per_posting = 2 + 4 if name == "inverted" else 4 + 4
    touched = postings_touched(lengths, batch)
    qi = batch.indices.astype(np.int64)
    used = np.unique(qi[batch.values != 0])
    return {
        "floor_bytes": float(touched.sum() * per_posting),
        "index_once_bytes": float(lengths[used].sum() * per_posting),
        "postings_per_query": float(touched.mean()),
    }


def run_engine(
    name: str,
    database: Any,
    queries: list[Any],
    topk: int,
    repeats: int,
    budget_s: float,
    device: str,
) -> tuple[dict[str, Any], Any, np.ndarray]:
    opts: dict[str, Any] = {}
    if name in ("torch", "torch-csr", "inverted-torch"):
        opts["device"] = device
    if name == "faiss":
        opts["gpu"] = device == "cuda"
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        t = time.perf_counter()
        engine = make_engine(name, **opts).build(database)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        _, first_ids = engine.search(queries[0], topk)  # warm-up (numba compiles here)
        warm = time.perf_counter() - t
        n_rep = max(1, min(repeats, int(budget_s // max(warm, 1e-9))))
        times = [_timed(lambda q=q: engine.search(q, topk)) for q in queries[1 : 1 + n_rep]]
    ms = statistics.median(times) * 1e3
    nq = queries[0].n if isinstance(queries[0], SparseCodes) else len(queries[0])
    out = {
        "engine": name,
        "kind": ENGINES[name].kind,
        "device": device if name != "inverted" else "cpu",
        "build_s": build_s,
        "warmup_ms": warm * 1e3,
        "repeats": len(times),
        "ms_per_batch": ms,
        "ms_per_batch_min": min(times) * 1e3,
        "ms_per_batch_all": [x * 1e3 for x in times],
        "ms_per_query": ms / nq,
        "queries_per_s": nq / (ms / 1e3),
        "index_bytes": engine.index_bytes,
        "bytes_per_doc": engine.bytes_per_doc,
        "peak_rss_mb": (mem.peak - mem.start) / 2**20,
    }
    if torch.cuda.is_available():
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out, engine, first_ids


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--h", type=int, default=1536, help="latents (4 x 384 for MiniLM)")
    p.add_argument("--k", type=int, default=32, help="active latents per code")
    p.add_argument("--d", type=int, default=384, help="dense width (full embedding)")
    p.add_argument("--topk", type=int, default=10)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="timed batches after a warm-up")
    p.add_argument("--budget", type=float, default=30.0, help="seconds of timed batches per engine")
    p.add_argument("--engines", nargs="+", default=DEFAULT_ENGINES)
    p.add_argument("--freq", help=".npy usage vector or .npz SparseCodes to take usage from")
    p.add_argument("--zipf", type=float, default=0.5, help="Zipf exponent of default usage")
    p.add_argument("--device", default="auto", help="torch engines: auto, cpu or cuda")
    p.add_argument("--all-sizes", action="store_true", help="ignore the per-engine CPU size caps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)

    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    engines = [e for e in args.engines if e in available_engines()]
    for e in set(args.engines) - set(engines):
        print(f"skipping {e}: not available here", file=sys.stderr)
    hw = hardware()
    bw = read_bandwidth()
    freq, freq_source = load_frequencies(args.freq, args.h, args.zipf)
    print(json.dumps(hw))
    print(f"read bandwidth: {json.dumps({k: round(v, 1) for k, v in bw.items()})}")
    print(f"codes: k={args.k} of h={args.h}, usage {freq_source}; dense d={args.d}")

    n_queries = args.batch * (args.repeats + 1)
    q_codes = sample_codes(n_queries, args.h, args.k, freq=freq, seed=args.seed + 1)
    q_dense = dense_unit(n_queries, args.d, args.seed + 1)
    rows: list[dict[str, Any]] = []
    header = (
        f"{'engine':15} {'n':>9} {'ms/batch':>9} {'min':>8} {'ms/query':>9} {'q/s':>8} "
        f"{'B/doc':>6} {'floor ms':>9} {'x floor':>7} {'once ms':>8} {'peak MB':>8} {'agree':>6}"
    )
    for n in args.sizes:
        t = time.perf_counter()
        db_codes = sample_codes(n, args.h, args.k, freq=freq, seed=args.seed + 2)
        db_dense = (
            dense_unit(n, args.d, args.seed + 2)
            if any(ENGINES[e].kind == "dense" for e in engines)
            else None
        )
        lengths = posting_list_lengths(db_codes)
        print(f"\nn={n:,}: data in {time.perf_counter() - t:.1f} s")
        print(header)
        ref_ids: np.ndarray | None = None
        for name in engines:
            dev = device if name != "inverted" else "cpu"
            if dev == "cpu" and not args.all_sizes and n > CPU_MAX_N.get(name, 1 << 62):
                continue
            sparse = ENGINES[name].kind == "sparse"
            db = db_codes if sparse else db_dense
            qs = batches(q_codes if sparse else q_dense, args.batch)
            try:
                row, engine, ids = run_engine(
                    name, db, qs, args.topk, args.repeats, args.budget, dev
                )
            except Exception as err:  # e.g. out of GPU memory: report, go on
                print(f"{name:15} {n:>9,} failed: {err}")
                continue
            row.update(n=n, h=args.h, k=args.k, d=args.d, topk=args.topk, batch=args.batch)
            row.update(floor_bytes(engine, name, n, args.d, qs[0], lengths))
            bw_gbs = bw["gpu_gbs"] if row["device"] == "cuda" else bw["cpu_gbs"]
            row["bandwidth_gbs"] = bw_gbs
            row["floor_ms"] = row["floor_bytes"] / (bw_gbs * 1e9) * 1e3
            row["x_floor"] = row["ms_per_batch"] / row["floor_ms"]
            if "index_once_bytes" in row:
                row["index_once_ms"] = row["index_once_bytes"] / (bw_gbs * 1e9) * 1e3
            if sparse:  # sparse engines must agree with each other exactly (same codes)
                ref_ids = ids if ref_ids is None else ref_ids
                row["agree_with_first_sparse"] = float((ids == ref_ids).mean())
            rows.append(row)
            once = f"{row['index_once_ms']:8.1f}" if "index_once_ms" in row else f"{'':8}"
            agree = f"{row['agree_with_first_sparse']:6.3f}" if sparse else f"{'':6}"
            print(
                f"{name:15} {n:>9,} {row['ms_per_batch']:9.1f} {row['ms_per_batch_min']:8.1f} "
                f"{row['ms_per_query']:9.4f} "
                f"{row['queries_per_s']:8.0f} {row['bytes_per_doc']:6.0f} "
                f"{row['floor_ms']:9.1f} {row['x_floor']:7.2f} {once} "
                f"{row['peak_rss_mb']:8.0f} {agree}",
                flush=True,
            )
            del engine
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        del db_codes, db_dense
        gc.collect()

    hw["load_average_at_end"] = os.getloadavg()
    result = {
        "hardware": hw,
        "bandwidth": bw,
        "settings": {**vars(args), "usage": freq_source, "device": device},
        "results": rows,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
