"""Paired significance of every "CSR beats X" an experiment's tables could suggest.

For one experiment, the reference method (CSR) is compared with every other method on
the same test items, along both axes the paper's claims live on:

- equal k: CSR at k against each method's budget k (MRL's prefix m = k, PCA's top k ...);
- equal bytes: at each byte budget B (16, 32, 64, 128, 256 B per document), each method's
  best configuration that stores at most B bytes, against CSR's best under B; a pair
  already tested at a smaller budget is not tested again.

Each comparison is `stats.paired_test` on per-item scores averaged over seeds, for every
metric that has per-item scores. p-values are also given Holm-adjusted within each
(metric, axis) family, since a table of twenty comparisons will show one p < 0.05 by
chance; `significant` uses the adjusted value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_json
from csrbench.stats import RESAMPLES, paired_test

BYTE_BUDGETS = (16, 32, 64, 128, 256)
ALPHA = 0.05
# the order in which an experiment's primary metric is picked (the report's headline order)
PRIMARY = ("knn1_top1", "ndcg@10", "i2t_recall@5", "classification_accuracy", "t2i_recall@5")


@dataclass(frozen=True)
class Entry:
    """One (method, budget) of an experiment: its means and per-seed per-item scores."""

    method: str
    budget: str
    k: int | None
    bytes_per_doc: float
    means: dict[str, float]
    items: dict[str, np.ndarray]  # metric -> [n_seeds, n_items]

    def describe(self, metric: str) -> dict[str, Any]:
        return {
            "method": self.method,
            "budget": self.budget,
            "k": self.k,
            "bytes_per_doc": self.bytes_per_doc,
            "mean": self.means.get(metric),
        }


def items_path(aggregate_file: str | Path, seed: int) -> Path:
    """`.../{budget}.json` -> `.../{budget}/seed{seed}.items.npz` (written by evaluate)."""
    path = Path(aggregate_file)
    return path.with_suffix("") / f"seed{seed}.items.npz"


def load_entry(aggregate_file: str | Path) -> Entry:
    path = Path(aggregate_file)
    body = json.loads(path.read_text())
    per_seed = []
    for seed in body.get("seeds", [0]):
        with np.load(items_path(path, seed)) as npz:
            per_seed.append({name: npz[name] for name in npz.files})
    names = set(per_seed[0]).intersection(*per_seed[1:]) if per_seed else set()
    items = {n: np.stack([s[n].astype(np.float64) for s in per_seed]) for n in sorted(names)}
    return Entry(
        method=path.parent.name,
        budget=path.stem,
        k=body.get("k"),
        bytes_per_doc=float(body["bytes_per_doc"]),
        means={n: float(v) for n, v in body["metrics"].items()},
        items=items,
    )


def pick_primary(measured: set[str], what: str = "compare") -> str:
    """The first of PRIMARY among the metrics with per-item scores, else the first by
    name; `what` names the caller's task in the error when there is none."""
    for name in PRIMARY:
        if name in measured:
            return name
    if not measured:
        raise ValueError(f"no per-item scores to {what}")
    return sorted(measured)[0]


def primary_metric(entries: Sequence[Entry]) -> str:
    return pick_primary(set().union(*(e.items for e in entries)) if entries else set())


def _best_under(entries: Sequence[Entry], metric: str, budget: float) -> Entry | None:
    fits = [e for e in entries if e.bytes_per_doc <= budget and metric in e.items]
    return max(fits, key=lambda e: e.means.get(metric, -np.inf), default=None)


def _row(axis: str, budget: float, metric: str, a: Entry, b: Entry, **kw: Any) -> dict[str, Any]:
    test = paired_test(a.items[metric], b.items[metric], **kw)
    return {
        "axis": axis,
        "budget": budget,
        "metric": metric,
        "a": a.describe(metric),
        "b": b.describe(metric),
        **{
            f"diff_{key}" if key in ("low", "high") else key: v for key, v in test.as_dict().items()
        },
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def compare(
    entries: Sequence[Entry],
    reference: str = "csr",
    byte_budgets: Sequence[int] = BYTE_BUDGETS,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Every reference-vs-other comparison at equal k and at equal bytes."""
    ref = [e for e in entries if e.method == reference]
    others = sorted({e.method for e in entries} - {reference})
    metrics = sorted(set().union(*(e.items for e in entries))) if entries else []
    kw = {"n_resamples": n_resamples, "seed": seed}
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        for a in sorted((e for e in ref if e.k is not None), key=lambda e: e.k or 0):
            for method in others:
                for b in entries:
                    if (
                        b.method == method
                        and b.k == a.k
                        and metric in a.items
                        and metric in b.items
                    ):
                        rows.append(_row("k", a.k, metric, a, b, **kw))  # type: ignore[arg-type]
        tested: set[tuple[int, int]] = set()
        for budget in byte_budgets:
            a = _best_under(ref, metric, budget)
            if a is None:
                continue
            for method in others:
                b = _best_under([e for e in entries if e.method == method], metric, budget)
                # a larger budget that neither side uses is the same test again: it would
                # repeat a verdict at a size no code has, and inflate the Holm family
                if b is not None and (id(a), id(b)) not in tested:
                    tested.add((id(a), id(b)))
                    rows.append(_row("bytes", budget, metric, a, b, **kw))
    for axis in ("k", "bytes"):
        for metric in metrics:
            family = [r for r in rows if r["axis"] == axis and r["metric"] == metric]
            for r, p in zip(family, holm([r["p_value"] for r in family]), strict=True):
                r["p_holm"] = p
                r["significant"] = p < ALPHA
    return rows


def compare_job(
    experiment: str,
    aggregate_files: Sequence[str | Path],
    out_path: str | Path,
    reference: str = "csr",
    n_resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """Compare an experiment's methods; write `results/compare/{experiment}.json`."""
    entries = [load_entry(p) for p in aggregate_files]
    rows = compare(entries, reference, n_resamples=n_resamples) if entries else []
    result = {
        "experiment": experiment,
        "reference": reference,
        "primary_metric": primary_metric(entries) if rows else None,
        "alpha": ALPHA,
        "correction": "holm within (axis, metric)",
        "test": "paired sign-flip permutation on per-item scores averaged over seeds; "
        "percentile bootstrap interval of the mean difference",
        "n_resamples": n_resamples,
        "byte_budgets": list(BYTE_BUDGETS),
        "comparisons": rows,
    }
    write_json(out_path, result)
    return result
