"""A small results/ tree written by hand: every kind of result file, five experiments.

- `digits-mini` (image, not a paper experiment), in the multi-seed layout: csr/mrl at k 8
  and 16 over seeds 0-2, pca k16 and full over seed 0, each as per-seed files
  (`{budget}/seed{s}.json` + `.items.npz`) folded into `{budget}.json` by the pipeline's
  own `aggregate_job`; `compare/digits-mini.json` from its own `compare_job` on those
  per-item scores; `tune/digits-mini/{csr,mrl}.json`; bench, scaling, and training
  summaries one per seed (`models/.../{budget}/seed{s}/summary.json`, csr h = 256);
- `code-mini` (text, multi-seed): retrieval, classification and clustering, csr over
  seeds 0-2, with bench files;
- older single-run files (no `seeds`, `spread`, or seed level), which must still load:
  `digits-wide` (image: csr at k 8 with h = 512, a second h: `accuracy_vs_h` appears),
  `imagenet-rn50` (the paper's name: Table 4 columns appear) and `coco-clip`
  (image-text, the paper's name: Table 2 columns appear), both with a frozen MRL head
  (`mrl`) and the paper's MRL, a fine-tuned backbone (`mrl-ft`), whose row the paper's
  MRL numbers sit beside.
The tests compare every table cell against these numbers, computed independently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.aggregate import aggregate_job
from csrbench.compare import compare_job, items_path

HW_CPU = {"cpu_model": "Test CPU", "cpu_affinity": 2, "gpus": []}
HW_GPU = {"cpu_model": "Test CPU", "gpus": [{"index": 0, "name": "Test GPU 80GB"}]}

N_ITEMS = 400  # test images of digits-mini: a 1-NN hit (0/1) per image
COMPARE_RESAMPLES = 2000
# (method, k) -> (seeds, per-seed knn1_top1, per-seed linear_probe_top1, active_dims, bytes)
DIGITS = {
    ("csr", 8): ([0, 1, 2], [0.6, 0.61, 0.62], [0.65, 0.66, 0.67], 8, 32),
    ("csr", 16): ([0, 1, 2], [0.645, 0.6525, 0.66], [0.69, 0.7, 0.71], 16, 64),
    ("mrl", 8): ([0, 1, 2], [0.49, 0.5, 0.51], [0.54, 0.55, 0.56], 8, 16),
    ("mrl", 16): ([0, 1, 2], [0.57, 0.575, 0.58], [0.59, 0.6, 0.61], 16, 32),
    ("pca", 16): ([0], [0.65], [0.68], 16, 64),
    ("full", None): ([0], [0.7125], [0.8], 64, 128),
}
# (method, k) -> (mean knn1_top1, mean linear_probe_top1, active_dims, bytes_per_doc)
IMAGE = {
    key: (float(np.mean(knn)), float(np.mean(probe)), dims, nbytes)
    for key, (_, knn, probe, dims, nbytes) in DIGITS.items()
}
IMAGENET = {
    ("csr", 8): 0.6123,
    ("mrl", 8): 0.5834,
    ("mrl-ft", 8): 0.5912,
    ("full", None): 0.7011,
}
COCO = {  # (method, k) -> {metric: value}
    (m, k): {
        f"{d}_recall@{r}": round(base + 0.01 * r + (0.05 if d == "t2i" else 0), 6)
        for d in ("i2t", "t2i")
        for r in (1, 5, 10)
    }
    for (m, k), base in {
        ("csr", 256): 0.6,
        ("mrl", 256): 0.55,
        ("mrl-ft", 256): 0.57,
        ("full", None): 0.65,
    }.items()
}
TEXT_SEEDS = {("csr", 8): [0, 1, 2], ("full", None): [0]}
TEXT_OFFSETS = [-0.02, 0.0, 0.02]  # csr's per-seed scores: its mean below plus these
TEXT = {
    ("csr", 8): {
        "ndcg@10": 0.41,
        "recall@10": 0.6,
        "mrr@10": 0.35,
        "classification_accuracy": 0.25,
        "v_measure": 0.47,
        "hungarian_accuracy": 0.21,
    },
    ("full", None): {
        "ndcg@10": 0.675,
        "recall@10": 0.84,
        "mrr@10": 0.625,
        "classification_accuracy": 0.535,
        "v_measure": 0.5425,
        "hungarian_accuracy": 0.235,
    },
}
# (experiment, method, budget) -> {engine: ms_per_query}
BENCH = {
    ("digits-mini", "csr", "k8"): {"torch-csr": 0.5, "inverted": 0.2},
    ("digits-mini", "mrl", "k8"): {"faiss": 0.3, "torch": 0.4},
    ("digits-mini", "full", "full"): {"faiss": 1.0, "torch": 2.0},
    ("code-mini", "csr", "k8"): {"torch-csr": 0.08, "inverted": 0.05},
    ("code-mini", "full", "full"): {"faiss": 0.25, "torch": 0.5},
}
# (experiment, method, budget) -> (seeds or None for the old layout without a seed level,
# fit_seconds per seed, dead_frac_end per seed or None, h or None)
FITS = {
    ("digits-mini", "csr", "k8"): ([0, 1, 2], [12.0, 12.5, 13.0], [0.2, 0.25, 0.3], 256),
    ("digits-mini", "csr", "k16"): ([0, 1, 2], [13.5, 14.0, 14.5], [0.1, 0.125, 0.15], 256),
    ("digits-mini", "mrl", "all"): ([0, 1, 2], [2.5, 3.0, 3.5], None, None),
    ("digits-mini", "full", "all"): ([0], [0.001], None, None),
    ("digits-wide", "csr", "k8"): (None, [20.0], [0.5], 512),
}
# method -> the tune file's body (tune_job's format); the chosen trial is not the first
TUNE = {
    "csr": {
        "method": "csr",
        "k": 8,
        "seed": 0,
        "metric": "knn1_top1",
        "split": "val",
        "n_trials": 3,
        "trials": [
            {"params": {"lr": 0.0001, "aux_coef": 0.03125}, "score": 0.58, "fit_seconds": 9.5},
            {"params": {"lr": 0.0004, "aux_coef": 0.03125}, "score": 0.62, "fit_seconds": 9.75},
            {"params": {"lr": 0.0004, "aux_coef": 0.125}, "score": 0.6, "fit_seconds": 10.0},
        ],
        "chosen": {"lr": 0.0004, "aux_coef": 0.03125},
        "score": 0.62,
        "embeddings": {"train": "x/train", "val": "x/val"},
        "hardware": HW_CPU,
    },
    "mrl": {
        "method": "mrl",
        "k": 8,
        "seed": 0,
        "metric": "knn1_top1",
        "split": "val",
        "n_trials": 3,
        "trials": [
            {"params": {"lr": 0.001}, "score": 0.52, "fit_seconds": 2.0},
            {"params": {"lr": 0.003}, "score": 0.51, "fit_seconds": 2.25},
            {"params": {"lr": 0.01}, "score": 0.45, "fit_seconds": 2.5},
        ],
        "chosen": {"lr": 0.001},
        "score": 0.52,
        "embeddings": {"train": "x/train", "val": "x/val"},
        "hardware": HW_CPU,
    },
}


def budget(method: str, k: int | None) -> str:
    return "full" if k is None else f"k{k}"


def put(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def metric(root: Path, exp: str, method: str, k: int | None, scores: dict, **extra: Any) -> None:
    put(
        root / "metrics" / exp / method / f"{budget(method, k)}.json",
        {
            "experiment": exp,
            "method": method,
            "k": k,
            "sparse": method == "csr",
            "metrics": scores,
            "hardware": HW_CPU,
            **extra,
        },
    )


def seeded_metric(
    root: Path,
    exp: str,
    method: str,
    k: int | None,
    per_seed: list[dict[str, float]],
    seeds: list[int],
    items: list[dict[str, np.ndarray]] | None = None,
    **extra: Any,
) -> Path:
    """Per-seed metric files (and per-item scores), folded by the pipeline's aggregate job
    into `metrics/{exp}/{method}/{budget}.json`; returns the aggregate's path."""
    out = root / "metrics" / exp / method / f"{budget(method, k)}.json"
    seed_files = []
    for i, seed in enumerate(seeds):
        path = out.with_suffix("") / f"seed{seed}.json"
        put(
            path,
            {
                "experiment": exp,
                "method": method,
                "k": k,
                "seed": seed,
                "sparse": method == "csr",
                "metrics": per_seed[i],
                "seconds": {"evaluate": 0.5},
                "hardware": HW_CPU,
                **extra,
            },
        )
        if items is not None:
            np.savez(items_path(out, seed), **items[i])
        seed_files.append(path)
    aggregate_job(seed_files, out)
    return out


def hits(accuracy: float) -> np.ndarray:
    """Per-image 1-NN hits with the given accuracy: the easiest images are hit first, so
    methods' hits overlap as real ones do (a paired test then sees a consistent edge)."""
    count = round(accuracy * N_ITEMS)
    assert count / N_ITEMS == accuracy, f"{accuracy} is not a multiple of 1/{N_ITEMS}"
    return (np.arange(N_ITEMS) < count).astype(np.float64)


def write_digits_mini(root: Path) -> None:
    files = []
    for (m, k), (seeds, knn, probe, dims, nbytes) in DIGITS.items():
        files.append(
            seeded_metric(
                root,
                "digits-mini",
                m,
                k,
                [{"knn1_top1": a, "linear_probe_top1": b} for a, b in zip(knn, probe, strict=True)],
                seeds,
                items=[{"knn1_top1": hits(a)} for a in knn],
                active_dims=dims,
                bytes_per_doc=nbytes,
                n=N_ITEMS,
            )
        )
    compare_job(
        "digits-mini",
        files,
        root / "compare" / "digits-mini.json",
        n_resamples=COMPARE_RESAMPLES,
    )
    for method, body in TUNE.items():
        put(root / "tune" / "digits-mini" / f"{method}.json", body)


def write_results(
    root: Path, image_text: bool = True, scaling: bool = True, database_n: int = 50_000
) -> Path:
    """Write the tree under `root` (a `results/` directory); returns root."""
    write_digits_mini(root)
    metric(
        root,
        "digits-wide",
        "csr",
        8,
        {"knn1_top1": 0.63, "linear_probe_top1": 0.67},
        active_dims=8,
        bytes_per_doc=32,
    )
    metric(
        root, "digits-wide", "full", None, {"knn1_top1": 0.7125}, active_dims=64, bytes_per_doc=128
    )
    for (m, k), knn in IMAGENET.items():
        metric(
            root,
            "imagenet-rn50",
            m,
            k,
            {"knn1_top1": knn},
            active_dims=k or 2048,
            bytes_per_doc=4 * (k or 1024),
        )
    if image_text:
        for (m, k), scores in COCO.items():
            metric(root, "coco-clip", m, k, scores, active_dims=k or 512, bytes_per_doc=1024)
    for (m, k), scores in TEXT.items():
        seeds = TEXT_SEEDS[(m, k)]
        offsets = TEXT_OFFSETS if len(seeds) > 1 else [0.0]
        seeded_metric(
            root,
            "code-mini",
            m,
            k,
            [{name: v + o for name, v in scores.items()} for o in offsets],
            seeds,
            active_dims=k or 384,
            bytes_per_doc=4 * (k or 192),
        )
    for (exp, m, b), engines in BENCH.items():
        put(
            root / "bench" / exp / m / f"{b}.json",
            {
                "method": m,
                "k": None if b == "full" else int(b[1:]),
                "hardware": HW_GPU,
                "database": {"n": database_n},
                "queries": {"n": 200},
                "engines": [
                    {"engine": e, "ms_per_query": t, "ms_per_batch": 512 * t, "bytes_per_doc": 32.0}
                    for e, t in engines.items()
                ],
            },
        )
    if scaling:
        put(
            root / "scaling" / "digits-mini" / "csr" / "k8.json",
            {
                "experiment": "digits-mini",
                "method": "csr",
                "k": 8,
                "h": 256,
                "d": 64,
                "hardware": HW_GPU,
                "results": [
                    {
                        "engine": e,
                        "kind": kind,
                        "n": n,
                        "ms_per_batch": 512 * t * n / 1000,
                        "ms_per_query": t * n / 1000,
                        "bytes_per_doc": b,
                        **({"floor_ms": 100 * t * n / 1000} if e == "torch-csr" else {}),
                    }
                    for e, kind, t, b in (
                        ("torch-csr", "sparse", 0.5, 32),
                        ("torch", "dense", 1.0, 256),
                    )
                    for n in (1000, 10000, 100000)
                ],
            },
        )
    for (exp, m, b), (seeds, seconds, dead, h) in FITS.items():
        for i, seed in enumerate(seeds or [None]):
            training: dict[str, Any] = {"steps": 100, "samples_per_s": 1000.0, "device": "cpu"}
            if dead is not None:
                training["dead_frac_end"] = dead[i]
            body = {
                "method": m,
                "k": None if b == "all" else int(b[1:]),
                "d": 64,
                "fit_seconds": seconds[i],
                "training": training,
                "hardware": HW_CPU,
            }
            if h is not None:
                body["h"] = h
            fit_dir = root / "models" / exp / m / b
            if seed is not None:
                body["seed"] = seed
                fit_dir = fit_dir / f"seed{seed}"
            put(fit_dir / "summary.json", body)
    # not a result layout: must be ignored (the synthetic sweep's own format)
    put(root / "bench" / "retrieval_speed_h100.json", {"sizes": [1, 2]})
    return root
