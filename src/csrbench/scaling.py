"""Retrieval speed against database size: the work behind the `scaling` rule and
`bench/retrieval_speed.py`.

An experiment's own database is far too small to show how the engines scale, so the
sweep searches synthetic databases of growing size n. Sparse engines search k-of-h
codes whose latents are used with the frequencies of a trained model's codes
(`csrbench.retrieval.synthetic`), so posting lists have the lengths that model would
give them at size n; dense engines search random unit vectors of the backbone's full
width d (the paper's dense baseline: faiss IndexFlatIP at full d). Each engine is timed
by `csrbench.timing.time_engine` (batches of 512, a warm-up batch, the median of up to
`repeats` others, peak memory).

Every engine is reported beside its memory-bandwidth floor: the bytes its algorithm
must read per batch (`Engine.floor_bytes`) divided by the read bandwidth measured on
this machine, because search at these sizes is memory-bound and "x_floor" says how much
an engine leaves on the table, independent of how fast the machine is:

- dense flat (faiss, torch): the database once per batch, n * d * 4 bytes
- torch-csr: the document CSR once per batch (int64 column + float32 value per nonzero)
- inverted engines (query at a time): the posting lists of each query's active latents,
  summed over the batch's queries; "index once" (each byte of the lists the batch
  touches read once) is recorded too, the bound a batch-shared traversal could approach
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from csrbench.atomic import write_json
from csrbench.codes import SparseCodes
from csrbench.codesdir import CodesDir, search_roles
from csrbench.devices import resolve_device
from csrbench.retrieval import ENGINES, available_engines
from csrbench.retrieval.synthetic import sample_codes, usage_frequencies
from csrbench.store import PROVENANCE, load_split
from csrbench.timing import QUERY_BATCH, TOPK, bench_hardware, read_bandwidth, time_engine

DEFAULT_ENGINES = ("faiss", "torch", "torch-csr", "inverted", "inverted-torch", "ell-triton")
# engines too slow for the largest CPU sizes unless asked for: max n on CPU
CPU_MAX_N = {"inverted-torch": 100_000}
# bytes the sweep holds per document at once, beyond the interpreter (see memory_bytes)
_BASE_BYTES = 2 << 30

Progress = Callable[[str], None]


# ------------------------------------------------------------------------ memory and data


def dense_copies(engines: Sequence[str]) -> int:
    """float32 copies of the dense database the engines hold at once: none without a
    dense engine, ours, and faiss's own when faiss is among them."""
    dense = [e for e in engines if ENGINES[e].kind == "dense"]
    return (1 if dense else 0) + ("faiss" in dense)


def memory_bytes(n: int, d: int, k: int, copies: int = 2) -> int:
    """Host memory the sweep needs at size n: `copies` float32 copies of the dense
    database (`dense_copies`: ours and faiss's), the codes, torch-csr's int64 columns
    and the posting-length transient, plus the interpreter and libraries. Used to skip
    sizes that cannot fit (a guard, not a measurement: `peak_rss_mb` in the results is
    the measurement). A sparse-only sweep needs no dense database, so at d = 4096 it
    still reaches sizes where two dense copies would not fit."""
    return int(n * (copies * d * 4 + 32 * k)) + _BASE_BYTES


def memory_available() -> int:
    """Bytes this job may still allocate: free memory, capped by the job's cgroup (v2)
    and a SLURM allocation, which kill a job that exceeds them however much is free."""
    avail = psutil.virtual_memory().available
    slurm_mb = os.environ.get("SLURM_MEM_PER_NODE", "")
    if slurm_mb.isdigit():
        avail = min(avail, int(slurm_mb) * 2**20 - psutil.Process().memory_info().rss)
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        current = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - current)
    except (OSError, ValueError):
        pass
    return avail


def dense_unit(n: int, d: int, seed: int) -> np.ndarray:
    """[n, d] float32 random unit vectors (torch's generator: fast and multi-threaded)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    x /= x.norm(dim=1, keepdim=True)
    return x.numpy()


def add_floor(row: dict[str, Any], floors: dict[str, float], bandwidth: dict[str, float]) -> None:
    """Floors in ms at the bandwidth of the row's device, and x_floor = measured / floor."""
    gbs = bandwidth["gpu_gbs"] if row["device"] == "cuda" else bandwidth["cpu_gbs"]
    row.update(floors)
    row["bandwidth_gbs"] = gbs
    row["floor_ms"] = floors["floor_bytes"] / (gbs * 1e9) * 1e3
    row["x_floor"] = row["ms_per_batch"] / row["floor_ms"]
    if "index_once_bytes" in floors:
        row["index_once_ms"] = floors["index_once_bytes"] / (gbs * 1e9) * 1e3


# ------------------------------------------------------------------------ the sweep

TABLE_HEADER = (
    f"{'engine':15} {'dev':4} {'n':>10} {'ms/batch':>9} {'min':>8} {'ms/query':>9} {'q/s':>8} "
    f"{'B/doc':>6} {'floor ms':>9} {'x floor':>8} {'once ms':>8} {'peak MB':>8} {'agree':>6}"
)


def format_row(row: dict[str, Any]) -> str:
    """One line of the sweep's table (the header is `TABLE_HEADER`)."""
    once = f"{row['index_once_ms']:8.2f}" if "index_once_ms" in row else f"{'':8}"
    agree = f"{row['agree']:6.3f}" if "agree" in row else f"{'':6}"
    return (
        f"{row['engine']:15} {row['device']:4} {row['n']:>10,} {row['ms_per_batch']:9.1f} "
        f"{row['ms_per_batch_min']:8.1f} {row['ms_per_query']:9.4f} "
        f"{row['queries_per_s']:8.0f} {row['bytes_per_doc']:6.0f} {row['floor_ms']:9.2f} "
        f"{row['x_floor']:8.2f} {once} {row['peak_rss_mb']:8.0f} {agree}"
    )


def sweep(
    freq: np.ndarray,
    k: int,
    d: int,
    sizes: Sequence[int],
    *,
    query_freq: np.ndarray | None = None,
    engines: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    repeats: int = 3,
    batch: int = QUERY_BATCH,
    topk: int = TOPK,
    budget_s: float = 30.0,
    cpu_max_n: dict[str, int] | None = None,
    bandwidth: dict[str, float] | None = None,
    check_memory: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Time every engine at every database size; one row per (engine, size) that ran.

    `freq` ([h], sums to 1) is the database's latent usage, `query_freq` the queries'
    (default: the same). Engines not installed here are left out (listed under
    "unavailable"); engines over their CPU size cap (`cpu_max_n`, default `CPU_MAX_N`;
    {} lifts the caps) and sizes that do not fit in memory are listed under "skipped",
    an engine that fails (e.g. out of GPU memory) under "failures": the sweep goes on.
    `bandwidth` (GB/s dict as from `read_bandwidth`) is measured when not given.
    Sparse rows carry "agree": the share of the warm-up batch's top-k ids equal to the
    first sparse engine's (the codes are the same, so it should be 1; dense likewise).
    """
    say = progress or (lambda _: None)
    freq = np.asarray(freq, dtype=np.float64)
    h = len(freq)
    if not 0 < k <= h:
        raise ValueError(f"need 0 < k <= h, got k={k}, h={h}")
    if not sizes or min(sizes) < 1:
        raise ValueError(f"database sizes must be positive integers, got {list(sizes)}")
    dev = resolve_device(device)
    wanted = list(DEFAULT_ENGINES if engines is None else engines)
    unknown = sorted(set(wanted) - set(ENGINES))
    if unknown:
        raise ValueError(f"unknown engines {unknown}; known: {sorted(ENGINES)}")
    here = set(available_engines())
    names = [e for e in wanted if e in here]
    caps = CPU_MAX_N if cpu_max_n is None else cpu_max_n
    hw = bench_hardware()
    bw = read_bandwidth() if bandwidth is None else dict(bandwidth)
    say(f"read bandwidth GB/s: {json.dumps({key: round(v, 1) for key, v in bw.items()})}")
    say(f"codes: k={k} of h={h}; dense d={d}; device {dev}; engines {', '.join(names)}")

    n_queries = batch * (repeats + 1)
    q_freq = freq if query_freq is None else query_freq
    q_codes = sample_codes(n_queries, h, k, freq=q_freq, seed=seed + 1)
    q_dense = dense_unit(n_queries, d, seed + 1)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for n in sizes:
        need = memory_bytes(n, d, k, dense_copies(names))
        if check_memory and need > memory_available():
            msg = (
                f"needs ~{need / 2**30:.1f} GiB of host memory, "
                f"{memory_available() / 2**30:.1f} GiB available"
            )
            skipped.append({"n": n, "engine": None, "reason": msg})
            say(f"n={n:,}: skipped, {msg}")
            continue
        t = time.perf_counter()
        db_codes = sample_codes(n, h, k, freq=freq, seed=seed + 2)
        any_dense = any(ENGINES[e].kind == "dense" for e in names)
        db_dense = dense_unit(n, d, seed + 2) if any_dense else None
        say(f"n={n:,}: data in {time.perf_counter() - t:.1f} s")
        say(TABLE_HEADER)
        ref: dict[str, np.ndarray] = {}
        for name in names:
            kind = ENGINES[name].kind
            if ENGINES[name].placement(dev) == "cpu" and n > caps.get(name, n):
                skipped.append({"n": n, "engine": name, "reason": f"CPU size cap {caps[name]:,}"})
                continue
            sparse = kind == "sparse"
            try:
                timing = time_engine(
                    name,
                    db_codes if sparse else db_dense,
                    q_codes if sparse else q_dense,
                    batch=batch,
                    topk=topk,
                    repeats=repeats,
                    budget_s=budget_s,
                    device=dev,
                )
            except Exception as err:  # e.g. out of GPU memory: record, go on
                failures.append({"n": n, "engine": name, "error": repr(err)})
                say(f"{name:15} {'':4} {n:>10,} failed: {err!r}")
                gc.collect()
                continue
            row = timing.row()
            row.update(n=n, h=h, k=k, d=d, topk=topk, batch=batch)
            add_floor(row, timing.floor, bw)
            ref.setdefault(kind, timing.first_ids)
            row["agree"] = float((timing.first_ids == ref[kind]).mean())
            rows.append(row)
            say(format_row(row))
        del db_codes, db_dense
        gc.collect()
    hw["load_average_at_end"] = list(os.getloadavg())
    return {
        "k": k,
        "h": h,
        "d": d,
        "sizes": list(sizes),
        "device": dev.type,
        "engines": names,
        "unavailable": [e for e in wanted if e not in here],
        "query_batch": batch,
        "topk": topk,
        "repeats": repeats,
        "budget_s": budget_s,
        "seed": seed,
        "bandwidth": bw,
        "hardware": hw,
        "results": rows,
        "skipped": skipped,
        "failures": failures,
    }


def summary(result: dict[str, Any]) -> str:
    """One screen: per size, each engine's ms/batch beside its floor, and the best sparse
    engine against dense faiss at full d (torch's matmul when faiss is not installed)."""
    bw = result["bandwidth"]
    gpu_bw = f", {bw['gpu_gbs']:.0f} GB/s (GPU)" if "gpu_gbs" in bw else ""
    hw = result["hardware"]
    gpus = ", ".join(g["name"] for g in hw.get("gpus", [])) or "none"
    lines = [
        f"{hw.get('cpu_model')}, {hw.get('torch_threads')} torch threads, GPU: {gpus}, "
        f"load average {hw.get('load_average_at_start')}",
        f"k={result['k']} of h={result['h']} vs dense d={result['d']}, "
        f"batches of {result['query_batch']}, device {result['device']}, "
        f"bandwidth {bw['cpu_gbs']:.1f} GB/s (CPU){gpu_bw}",
    ]
    for n in sorted({r["n"] for r in result["results"]}):
        at = [r for r in result["results"] if r["n"] == n]
        lines.append(f"n={n:,}")
        for r in at:
            lines.append(
                f"  {r['engine']:15} {r['device']:4} {r['ms_per_batch']:10.2f} ms/batch  "
                f"floor {r['floor_ms']:9.3f} ms  x_floor {r['x_floor']:8.2f}"
            )
        sparse = [r for r in at if r["kind"] == "sparse"]
        dense = [r for r in at if r["kind"] == "dense"]
        ref = next((r for r in dense if r["engine"] == "faiss"), None)
        ref = ref or min(dense, key=lambda r: r["ms_per_batch"], default=None)
        if sparse and ref:
            best = min(sparse, key=lambda r: r["ms_per_batch"])
            ratio = best["ms_per_batch"] / ref["ms_per_batch"]
            lines.append(
                f"  best sparse {best['engine']} / dense {ref['engine']}: {ratio:.3f} "
                f"({1 / ratio:.1f}x {'faster' if ratio < 1 else 'slower'}); "
                f"best sparse within {best['x_floor']:.2f}x of its floor"
            )
    for s in result["skipped"]:
        lines.append(f"skipped n={s['n']:,} {s['engine'] or 'all engines'}: {s['reason']}")
    for f in result["failures"]:
        lines.append(f"failed n={f['n']:,} {f['engine']}: {f['error']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ the rule's job


def embedding_width(eval_embeddings: str | Path, field: str) -> int:
    """d of one field, from the split's provenance (no matrix is read)."""
    prov = json.loads((Path(eval_embeddings) / PROVENANCE).read_text())
    return int(prov["fields"][field]["d"])


def code_usage(codes: CodesDir, split: str, field: str) -> tuple[np.ndarray, int, str]:
    """(usage frequencies [h], the codes' k, where they came from) of one field's codes."""
    x = codes.load(split, field)
    if not isinstance(x, SparseCodes):
        raise ValueError(
            f"{codes.path} holds dense codes of method {codes.method!r}; the scaling sweep "
            "needs a sparse (CSR-family) method: set evaluate.scaling.methods to csr, sae "
            "or csr-v2"
        )
    return usage_frequencies(x), x.k, f"usage of {codes.path / split / field}.npz"


def pick_sizes(device: torch.device, sizes: Sequence[int], gpu_sizes: Sequence[int]) -> list[int]:
    """The configured CPU sizes, or `gpu_sizes` (when non-empty) where the sweep runs on
    a GPU; decided at run time because the plan cannot know which node a job lands on."""
    return list(gpu_sizes) if device.type == "cuda" and gpu_sizes else list(sizes)


def scaling_job(
    codes_dir: str | Path,
    eval_embeddings: str | Path,
    train_split: str,
    out_path: str | Path,
    *,
    experiment: str | None = None,
    sizes: Sequence[int] = (100_000, 1_000_000),
    gpu_sizes: Sequence[int] = (),
    repeats: int = 3,
    device: str = "auto",
    progress: Progress | None = None,
    **sweep_options: Any,
) -> dict[str, Any]:
    """Sweep one (experiment, method, budget): usage from its training split's codes
    (database field for documents, query field for queries), d from its embeddings;
    write one JSON atomically and return it."""
    codes = CodesDir.read(codes_dir)
    roles = search_roles(load_split(eval_embeddings).relevance)
    freq, k, source = code_usage(codes, train_split, roles.database_field)
    q_freq, _, q_source = code_usage(codes, train_split, roles.query_field)
    d = embedding_width(eval_embeddings, roles.database_field)
    dev = resolve_device(device)
    chosen = pick_sizes(dev, sizes, gpu_sizes)
    result = sweep(
        freq,
        k,
        d,
        chosen,
        query_freq=q_freq,
        repeats=repeats,
        device=dev,
        progress=progress,
        **sweep_options,
    )
    result = {
        "experiment": experiment,
        "method": codes.method,
        "usage": source,
        "query_usage": q_source,
        "size_list": "gpu_sizes" if dev.type == "cuda" and gpu_sizes else "sizes",
        **result,
    }
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(out_path), result)
    return result
