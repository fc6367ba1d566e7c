"""Training time as the paper counts it (Fig. 1c), gathered into one file per experiment.

A post-hoc method (CSR, the frozen MRL head) costs one extraction of the training
split's embeddings, shared by every fit on them, plus its own fit; the paper's MRL costs
its backbone fine-tune, which reads raw data. Each fit's time is its `fit_seconds`
(optimiser steps on `train.threads` threads), each fine-tune checkpoint's its
`seconds` (steps only, on the same threads), and the embedding's the extraction's
wall time from its provenance (on the embed rule's threads; the file says how many).
Beside every time sits the test score it bought: the fit's seed's headline metric, or
the checkpoint's score from its curve.

Standard library only: the workflow runs this inside Snakemake's process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csrbench.atomic import write_json, write_text

# the experiment's headline metric, first present wins (report.labels.HEADLINE's order)
HEADLINE = ("knn1_top1", "ndcg@10", "i2t_recall@5", "classification_accuracy", "t2i_recall@5")


def _read(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def headline(metrics: dict[str, Any]) -> str:
    for name in HEADLINE:
        if name in metrics:
            return name
    raise ValueError(f"no headline metric among {sorted(metrics)}")


def _fit_key(path: str | Path) -> tuple[str, str, int]:
    """(method, budget, seed) of `.../{method}/{budget}/seed{s}/summary.json` or of a
    per-seed metric file `.../{method}/{budget}/seed{s}.json`."""
    p = Path(path)
    seed_part = p.parent.name if p.name == "summary.json" else p.stem
    budget_dir = p.parent.parent if p.name == "summary.json" else p.parent
    return budget_dir.parent.name, budget_dir.name, int(seed_part.removeprefix("seed"))


def training_time(
    embeddings: str | Path,
    summaries: Sequence[str | Path],
    seed_metrics: Sequence[str | Path],
    curves: Sequence[str | Path],
    experiment: str,
    threads: int,
) -> dict[str, Any]:
    """The training-time record of one experiment (see the module docstring)."""
    prov = _read(Path(embeddings) / "provenance.json")
    embed_seconds = float(sum(prov["seconds"].values()))
    scores: dict[tuple[str, int, int], float] = {}
    metric = None
    for path in seed_metrics:
        record = _read(path)
        metric = metric or headline(record["metrics"])
        method, _, seed = _fit_key(path)
        scores[(method, int(record["k"]), seed)] = float(record["metrics"][metric])
    fits = []
    for path in summaries:
        summary = _read(path)
        method, _, seed = _fit_key(path)
        ks = sorted(k for (m, k, s) in scores if m == method and s == seed)
        # a fit serving every k (the MRL head) is one fit: its time counts at each k
        for k in [summary["k"]] if summary.get("k") in ks else ks:
            fits.append(
                {
                    "method": method,
                    "k": int(k),
                    "seed": seed,
                    "fit_seconds": float(summary["fit_seconds"]),
                    "seconds": float(summary["fit_seconds"]) + embed_seconds,
                    "score": scores[(method, int(k), seed)],
                }
            )
    finetune = []
    for path in curves:
        curve = _read(path)
        metric = metric or curve["metric"]
        if curve["metric"] != metric:
            raise ValueError(f"{path} tracks {curve['metric']}, the fits {metric}")
        for point in curve["points"]:
            finetune.append({"seed": curve["seed"], **point})
    return {
        "experiment": experiment,
        "metric": metric,
        "threads": threads,
        "embedding": {
            "split": prov.get("split"),
            "rows": prov.get("n"),
            "seconds": embed_seconds,
            "threads": (prov.get("hardware") or {}).get("torch_threads"),
            "device": prov.get("device"),
        },
        "fits": sorted(fits, key=lambda f: (f["method"], f["k"], f["seed"])),
        "finetune": finetune,
        "hardware": prov.get("hardware"),
    }


def training_time_job(
    inputs: Any, out_path: str | Path, experiment: str, threads: int, log: str | Path | None = None
) -> dict[str, Any]:
    """Rule `training_time`: read the named inputs, write the record atomically."""
    record = training_time(
        inputs.embeddings,
        list(inputs.summaries),
        list(inputs.metrics),
        list(inputs.curves),
        experiment,
        threads,
    )
    write_json(out_path, record)
    if log is not None:
        write_text(log, f"{len(record['fits'])} fits, {len(record['finetune'])} checkpoints\n")
    return record
