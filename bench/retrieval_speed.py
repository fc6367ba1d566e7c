"""Retrieval speed of the dense and sparse engines, and how it scales with database size.

    python bench/retrieval_speed.py --sizes 10000 100000 1000000 --out speed.json
    python bench/retrieval_speed.py --freq results/codes/pycode/csr/k32/train/doc.npz

Dense engines search random unit vectors of width --d (the backbone's full width, the
paper's dense baseline); sparse engines search synthetic k-of-h codes whose latents are
used with given frequencies (--freq: a .npy vector or a codes .npz to take them from;
default Zipf-like, --zipf), so posting lists have realistic lengths. Every engine is
printed beside its memory-bandwidth floor (bytes its algorithm must read per batch /
read bandwidth measured here). This is a command line over `csrbench.scaling`, which
the workflow's `scaling` rule runs on each experiment's own codes; its docstring says
what each floor counts. The JSON (--out) has the rule's format, with the experiment
and method left null.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from csrbench.atomic import write_json
from csrbench.codes import SparseCodes
from csrbench.retrieval import available_engines
from csrbench.retrieval.synthetic import usage_frequencies, zipf_frequencies
from csrbench.scaling import DEFAULT_ENGINES, summary, sweep
from csrbench.timing import QUERY_BATCH, TOPK, set_threads

DEFAULT_H = 1536  # 4 x 384, CSR on MiniLM


def load_frequencies(path: str | None, h: int | None, zipf: float) -> tuple[np.ndarray, str]:
    """Usage frequencies and where they came from: a codes .npz, a .npy vector, or Zipf."""
    if path is None:
        return zipf_frequencies(h or DEFAULT_H, zipf), f"zipf(exponent={zipf})"
    if path.endswith(".npz"):
        freq, source = usage_frequencies(SparseCodes.load(path)), f"usage of {path}"
    else:
        freq, source = np.load(path), f"vector {path}"
    if h is not None and len(freq) != h:
        raise SystemExit(f"--freq {path} has h={len(freq)} latents, but --h is {h}; drop --h")
    return freq, source


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--h", type=int, help=f"latents (default {DEFAULT_H}, or --freq's)")
    p.add_argument("--k", type=int, default=32, help="active latents per code")
    p.add_argument("--d", type=int, default=384, help="dense width (full embedding)")
    p.add_argument("--topk", type=int, default=TOPK)
    p.add_argument("--batch", type=int, default=QUERY_BATCH)
    p.add_argument("--repeats", type=int, default=3, help="timed batches after a warm-up")
    p.add_argument("--budget", type=float, default=30.0, help="seconds of timed batches per engine")
    p.add_argument("--engines", nargs="+", default=list(DEFAULT_ENGINES))
    p.add_argument("--freq", help=".npy usage vector or .npz SparseCodes to take usage from")
    p.add_argument("--zipf", type=float, default=0.5, help="Zipf exponent of default usage")
    p.add_argument("--device", default="auto", help="torch engines: auto, cpu or cuda")
    p.add_argument("--all-sizes", action="store_true", help="ignore the per-engine CPU size caps")
    p.add_argument("--threads", type=int, help="threads for torch, faiss and numba (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)

    if args.threads:
        set_threads(args.threads)
    for e in sorted(set(args.engines) - set(available_engines())):
        print(f"skipping {e}: not available here", file=sys.stderr)
    freq, source = load_frequencies(args.freq, args.h, args.zipf)
    print(f"usage: {source}")
    result = sweep(
        freq,
        args.k,
        args.d,
        args.sizes,
        engines=args.engines,
        device=args.device,
        repeats=args.repeats,
        batch=args.batch,
        topk=args.topk,
        budget_s=args.budget,
        cpu_max_n={} if args.all_sizes else None,
        seed=args.seed,
        progress=lambda line: print(("\n" if line.startswith("n=") else "") + line, flush=True),
    )
    print("\n" + summary(result))
    if args.out:
        out = {"experiment": None, "method": None, "usage": source, **result}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(args.out), out)
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
