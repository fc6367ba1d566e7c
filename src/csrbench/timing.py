"""How csrbench times things: one engine timing for `bench` (speed.py) and `scaling`,
and the memory and bandwidth measurements the benchmarks in bench/ share.

An engine is timed on queries in batches (512 by default): it is built, one warm-up
batch is searched (numba compiles there, caches and allocators settle), then up to
`repeats` other batches are timed (cycling through them when there are fewer) and the
median is reported, per query and per batch. A time budget can cut the repeats short
when the warm-up says they would take too long. Peak memory is the process RSS
high-water mark above the level before the engine was built, sampled by a thread
(`PeakRSS`), plus torch's CUDA peak on a GPU.
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import cycle, islice
from typing import Any

import numpy as np
import psutil
import torch

from csrbench.codes import SparseCodes
from csrbench.devices import hardware_info, resolve_device
from csrbench.retrieval import ENGINES, Database, make_engine, rows

QUERY_BATCH = 512
TOPK = 10


# ------------------------------------------------------------------------ environment


def set_threads(n: int) -> None:
    """Give torch, faiss (OpenMP) and numba the same `n` threads, so that engines are
    compared on equal hardware (each library otherwise picks its own count)."""
    torch.set_num_threads(n)
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def bench_hardware() -> dict[str, Any]:
    """`hardware_info()` plus what only the speed numbers depend on: faiss and numba
    builds and threads, and the load average (a shared machine times slower)."""
    info = hardware_info()
    try:
        import faiss

        info["faiss"] = faiss.__version__
        info["faiss_gpus"] = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        info["faiss_threads"] = faiss.omp_get_max_threads()
    except ImportError:
        info["faiss"] = None
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except ImportError:
        info["numba"] = None
    info["load_average_at_start"] = list(os.getloadavg())
    return info


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of `fn` takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read_bandwidth(gib: float = 1.0, repeats: int = 5) -> dict[str, float]:
    """Read bandwidth in GB/s: best of `repeats` full sums over a `gib` GiB buffer,
    with numpy (one thread) and torch (all its threads), and on the GPU if present.

    The buffer must be much larger than the last-level cache, or this measures the
    cache; `cpu_gbs` is the better of numpy and torch (the floor a parallel engine
    could reach), `gpu_gbs` uses a 4x larger buffer on the GPU.
    """
    n = max(1, int(gib * 2**30) // 4)
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

    fns: dict[str, Callable[[], Any]] = {"torch": torch_sum}
    if not cuda:
        fns["numpy"] = lambda: x.numpy().sum()
    out = {}
    for name, fn in fns.items():
        fn()
        best = min(timed(fn) for _ in range(repeats))
        out[f"{name}_gbs"] = x.numel() * 4 / best / 1e9
    return out


class PeakRSS:
    """Samples the process RSS in a thread while the block runs: `peak` is the
    high-water mark (bytes), `mb` its rise above the level at entry (MiB).

    A thread, not `ru_maxrss`: that is the high-water mark of the whole process life,
    so it cannot attribute memory to one engine built after another, nor to a training
    run after data generation.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.proc = psutil.Process()
        self.interval = interval
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        """Peak above the level at entry, MiB."""
        return (self.peak - self.start) / 2**20

    @property
    def peak_mb(self) -> float:
        """Peak resident memory of the process while the block ran (so far), MiB."""
        return max(self.peak, self.proc.memory_info().rss) / 2**20


# ------------------------------------------------------------------------ engine timing


def batches(x: Database, size: int) -> list[Database]:
    """Consecutive batches of `size` rows (views, no copies)."""
    if isinstance(x, SparseCodes):
        return [
            SparseCodes(x.indices[i : i + size], x.values[i : i + size], x.h)
            for i in range(0, x.n, size)
        ]
    return [x[i : i + size] for i in range(0, len(x), size)]


@dataclass(frozen=True)
class EngineTiming:
    """One engine built on a database and timed on batches of queries."""

    engine: str
    kind: str
    device: str  # where it ran: "cpu" or "cuda"
    batch: int  # queries per batch (the last batch of a query set may be shorter)
    build_s: float
    warmup_s: float
    seconds_per_query: list[float]  # one per timed batch
    index_bytes: int
    bytes_per_doc: float
    floor: dict[str, float]  # the engine's `floor_bytes` for the warm-up batch
    peak_rss_mb: float
    peak_cuda_mb: float | None
    first_ids: np.ndarray = field(repr=False)  # the warm-up batch's top-k ids

    @property
    def ms_per_query(self) -> float:
        return statistics.median(self.seconds_per_query) * 1e3

    @property
    def ms_per_batch(self) -> float:
        return self.ms_per_query * self.batch

    def row(self) -> dict[str, Any]:
        """The JSON row of `scaling`; `bench` keeps a subset of its keys."""
        ms = [s * self.batch * 1e3 for s in self.seconds_per_query]
        row = {
            "engine": self.engine,
            "kind": self.kind,
            "device": self.device,
            "build_s": self.build_s,
            "warmup_ms": self.warmup_s * 1e3,
            "repeats": len(ms),
            "ms_per_batch": self.ms_per_batch,
            "ms_per_batch_min": min(ms),
            "ms_per_batch_all": ms,
            "ms_per_query": self.ms_per_query,
            "queries_per_s": 1e3 / self.ms_per_query,
            "index_bytes": self.index_bytes,
            "bytes_per_doc": self.bytes_per_doc,
            "peak_rss_mb": self.peak_rss_mb,
        }
        if self.peak_cuda_mb is not None:
            row["peak_cuda_mb"] = self.peak_cuda_mb
        return row


def time_engine(
    name: str,
    database: Database,
    queries: Database,
    *,
    batch: int = QUERY_BATCH,
    topk: int = TOPK,
    repeats: int = 3,
    budget_s: float | None = None,
    device: str | torch.device = "auto",
) -> EngineTiming:
    """Build engine `name` on `device` (where it can go), search the first batch of
    `queries` as a warm-up, then time `repeats` batches of the others (the first
    again when it is the only one), fewer when the warm-up says they would take over
    `budget_s` seconds (None: no limit). Medians are taken per query, so a short last
    batch counts at its own size."""
    if repeats < 1 or batch < 1:
        raise ValueError(f"repeats and batch must be >= 1, got {repeats} and {batch}")
    dev = resolve_device(device)
    engine = make_engine(name, **(ENGINES[name].options(dev) if name in ENGINES else {}))
    cls = type(engine)
    qs = batches(queries, batch)
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        build_s = timed(partial(engine.build, database))
        t = time.perf_counter()
        _, first_ids = engine.search(qs[0], topk)
        warm = time.perf_counter() - t
        if budget_s is not None:
            repeats = max(1, min(repeats, int(budget_s // max(warm, 1e-9))))
        per_query = [
            timed(partial(engine.search, q, topk)) / rows(q)
            for q in islice(cycle(qs[1:] or qs[:1]), repeats)
        ]
    timing = EngineTiming(
        engine=name,
        kind=cls.kind,
        device=cls.placement(dev),
        batch=batch,
        build_s=build_s,
        warmup_s=warm,
        seconds_per_query=per_query,
        index_bytes=int(engine.index_bytes),
        bytes_per_doc=float(engine.bytes_per_doc),
        floor=engine.floor_bytes(qs[0]),
        peak_rss_mb=mem.mb,
        peak_cuda_mb=torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None,
        first_ids=first_ids,
    )
    del engine
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return timing
