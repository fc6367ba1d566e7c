"""Display names and orderings shared by tables and figures, so both say the same thing.

Also decides what an experiment's headline metric is: the number its accuracy axis
shows, chosen from the metrics its data supports (image: 1-NN; text: nDCG@10, else
classification; image-text: Recall@5). Every registered method has a place in
METHOD_ORDER and a label (a test checks both against `csrbench.methods.REGISTRY`).
"""

from __future__ import annotations

import math

import pandas as pd

METHOD_ORDER = [
    "csr",
    "csr-v2",
    "sae",
    "csr-st",
    "mrl",
    "mrl-e",
    "mrl-ft",
    "pca",
    "trunc",
    "randfs",
    "int8",
    "binary",
    "full",
]
METHOD_LABELS = {
    "csr": "CSR",
    "csr-v2": "CSR-v2",
    "sae": "SAE",
    "csr-st": "CSR (released)",
    "mrl": "MRL head",
    "mrl-e": "MRL-E head",
    "mrl-ft": "MRL fine-tune",
    "pca": "PCA",
    "trunc": "Trunc",
    "randfs": "RandFS",
    "int8": "int8",
    "binary": "Binary",
    "full": "Full",
}
METRIC_LABELS = {
    "knn1_top1": "1-NN top-1 (%)",
    "linear_probe_top1": "Linear-probe top-1 (%)",
    "ndcg@10": "nDCG@10 (%)",
    "recall@1": "Recall@1 (%)",
    "recall@10": "Recall@10 (%)",
    "recall@100": "Recall@100 (%)",
    "mrr@10": "MRR@10 (%)",
    "classification_accuracy": "Classification accuracy (%)",
    "v_measure": "Clustering V-measure (%)",
    "hungarian_accuracy": "Clustering accuracy, Hungarian (%)",
    **{
        f"{d}_recall@{k}": f"{d.upper()} Recall@{k} (%)" for d in ("i2t", "t2i") for k in (1, 5, 10)
    },
}
# headline metric per modality, first present wins
HEADLINE = ["knn1_top1", "ndcg@10", "i2t_recall@5", "classification_accuracy", "t2i_recall@5"]


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def method_rank(method: str) -> tuple[int, str]:
    """Sort key: the fixed order above, unknown methods after it by name."""
    return (
        (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (len(METHOD_ORDER), method)
    )


def sorted_methods(methods) -> list[str]:
    return sorted(set(methods), key=method_rank)


def present(frame: pd.DataFrame, metric: str) -> bool:
    """Whether `metric` has at least one value in `frame`."""
    return metric in frame.columns and bool(frame[metric].notna().any())


def headline_metric(frame: pd.DataFrame) -> str | None:
    """The metric an experiment's accuracy axis shows (None when it has none of them)."""
    return next((m for m in HEADLINE if present(frame, m)), None)


def modality(frame: pd.DataFrame) -> str:
    """ "image", "image-text" or "text", from the metrics an experiment's rows carry."""
    if present(frame, "knn1_top1") or present(frame, "linear_probe_top1"):
        return "image"
    if any(present(frame, f"{d}_recall@5") for d in ("i2t", "t2i")):
        return "image-text"
    return "text"


def k_label(k: float) -> str:
    """`8.0` -> "8"; NaN -> "full"."""
    return "full" if k is None or (isinstance(k, float) and math.isnan(k)) else str(int(k))


def p_phrase(p: float) -> str:
    """A p-value as the verdict sentences write it: "p < 0.001" or "p = 0.042"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
