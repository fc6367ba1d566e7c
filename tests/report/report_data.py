"""A small results/ tree written by hand: every kind of result file, four experiments.

- `digits-mini` (image, not a paper experiment): csr/mrl at k 8 and 16, full; bench,
  scaling and training summaries (csr h = 256);
- `digits-wide` (image): csr at k 8 with h = 512 (a second h: `accuracy_vs_h` appears);
- `imagenet-rn50` (image, the paper's name: Table 4 columns appear);
- `coco-clip` (image-text, the paper's name: Table 2 columns appear);
- `code-mini` (text): retrieval, classification and clustering, with bench files.
The tests compare every table cell against these numbers, computed independently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HW_CPU = {"cpu_model": "Test CPU", "cpu_affinity": 2, "gpus": []}
HW_GPU = {"cpu_model": "Test CPU", "gpus": [{"index": 0, "name": "Test GPU 80GB"}]}

IMAGE = {  # (method, k) -> (knn1_top1, linear_probe_top1, active_dims, bytes_per_doc)
    ("csr", 8): (0.61, 0.66, 8, 32),
    ("csr", 16): (0.6525, 0.7, 16, 64),
    ("mrl", 8): (0.5, 0.55, 8, 16),
    ("mrl", 16): (0.575, 0.6, 16, 32),
    ("full", None): (0.7125, 0.8, 64, 128),
}
IMAGENET = {("csr", 8): 0.6123, ("mrl", 8): 0.5834, ("full", None): 0.7011}
COCO = {  # (method, k) -> {metric: value}
    (m, k): {
        f"{d}_recall@{r}": round(base + 0.01 * r + (0.05 if d == "t2i" else 0), 6)
        for d in ("i2t", "t2i")
        for r in (1, 5, 10)
    }
    for (m, k), base in {("csr", 256): 0.6, ("mrl", 256): 0.55, ("full", None): 0.65}.items()
}
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
FITS = {  # (experiment, method, budget) -> (fit_seconds, dead_frac_end or None, h or None)
    ("digits-mini", "csr", "k8"): (12.5, 0.25, 256),
    ("digits-mini", "csr", "k16"): (14.0, 0.125, 256),
    ("digits-mini", "mrl", "all"): (3.0, None, None),
    ("digits-mini", "full", "all"): (0.001, None, None),
    ("digits-wide", "csr", "k8"): (20.0, 0.5, 512),
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


def write_results(
    root: Path, image_text: bool = True, scaling: bool = True, database_n: int = 50_000
) -> Path:
    """Write the tree under `root` (a `results/` directory); returns root."""
    for (m, k), (knn, probe, dims, nbytes) in IMAGE.items():
        scores = {"knn1_top1": knn, "linear_probe_top1": probe}
        metric(root, "digits-mini", m, k, scores, active_dims=dims, bytes_per_doc=nbytes)
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
        metric(root, "code-mini", m, k, scores, active_dims=k or 384, bytes_per_doc=4 * (k or 192))
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
    for (exp, m, b), (seconds, dead, h) in FITS.items():
        training: dict[str, Any] = {"steps": 100, "samples_per_s": 1000.0, "device": "cpu"}
        if dead is not None:
            training["dead_frac_end"] = dead
        body = {
            "method": m,
            "k": None if b == "all" else int(b[1:]),
            "d": 64,
            "fit_seconds": seconds,
            "training": training,
            "hardware": HW_CPU,
        }
        if h is not None:
            body["h"] = h
        put(root / "models" / exp / m / b / "summary.json", body)
    # not a result layout: must be ignored (the synthetic sweep's own format)
    put(root / "bench" / "retrieval_speed_h100.json", {"sizes": [1, 2]})
    return root
