"""Result JSON files -> pandas DataFrames, one per kind of result.

Experiment, method and budget are read from each file's path (the pipeline's layout
`results/metrics/{experiment}/{method}/{budget}.json`), not from the JSON body, so a file
written by an older or a hand-run job (where the body's `experiment` may be null) still
lands in the right row. Optional keys may be missing from any file (older runs, another
engineer's format): they become NaN, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from csrbench.methods.budget import Budget
from csrbench.report.files import RUN_HINT, NoResultsError, classify, result_files

RESULT_KINDS = ("metrics", "bench", "scaling", "training")
# the columns of each frame besides the metric columns (metrics frame) or engine values
METRIC_KEYS = ["experiment", "method", "budget", "k", "active_dims", "bytes_per_doc", "sparse", "h"]
BENCH_KEYS = [
    "experiment",
    "method",
    "budget",
    "k",
    "engine",
    "ms_per_query",
    "ms_per_batch",
    "queries_per_s",
    "bytes_per_doc",
    "bytes_per_doc_stored",
    "index_bytes",
    "build_s",
    "database_n",
    "queries_n",
    "hardware",
]
SCALING_KEYS = [
    "experiment",
    "method",
    "budget",
    "k",
    "h",
    "d",
    "engine",
    "kind",
    "n",
    "ms_per_batch",
    "ms_per_query",
    "bytes_per_doc",
    "floor_ms",
    "x_floor",
    "peak_rss_mb",
    "hardware",
]
TRAINING_KEYS = [
    "experiment",
    "method",
    "budget",
    "k",
    "d",
    "h",
    "fit_seconds",
    "dead_frac_end",
    "steps",
    "samples_per_s",
    "device",
    "hardware",
]


@dataclass
class Results:
    """Everything the report draws on; each frame may be empty except `metrics`."""

    metrics: pd.DataFrame  # one row per (experiment, method, budget); a column per metric
    bench: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BENCH_KEYS))
    scaling: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCALING_KEYS))
    training: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRAINING_KEYS))
    metric_names: list[str] = field(default_factory=list)

    def experiments(self) -> list[str]:
        return sorted(self.metrics["experiment"].unique())


def hardware_label(hw: dict[str, Any] | None) -> str:
    """A short name of the machine a number came from: the first GPU's name, else the CPU."""
    if not hw:
        return "unknown"
    gpus = hw.get("gpus") or []
    if gpus:
        first = gpus[0]
        return str(first.get("name", first) if isinstance(first, dict) else first)
    cpu = hw.get("cpu_model") or "CPU"
    cores = hw.get("cpu_affinity") or hw.get("cpu_logical_cores")
    return f"{cpu} ({cores} cores)" if cores else str(cpu)


def _num(value: Any) -> float:
    """A number or NaN (None, strings and missing keys become NaN)."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _k_of(budget: str, body_k: Any) -> float:
    """The budget k of a file: the body's k, else the path's `k32`; NaN for `full`/`all`
    (and for a directory name that is no budget)."""
    if body_k is not None:
        return _num(body_k)
    try:
        k = Budget.parse(budget).k
    except ValueError:
        return math.nan
    return math.nan if k is None else float(k)


def _where(path: Path, depth: int) -> tuple[str, str, str]:
    """(experiment, method, budget) from a path `.../{experiment}/{method}/{budget}...`."""
    parts = path.parts
    if depth == 3:  # .../{experiment}/{method}/{budget}.json
        return parts[-3], parts[-2], path.stem
    return parts[-4], parts[-3], parts[-2]  # .../{experiment}/{method}/{budget}/summary.json


def _identity(path: Path, body: dict[str, Any], depth: int = 3) -> dict[str, Any]:
    """The columns every kind of row starts with: which (experiment, method, budget, k) it
    is, from the file's path, and the machine it came from."""
    experiment, method, budget = _where(path, depth)
    return {
        "experiment": experiment,
        "method": method,
        "budget": budget,
        "k": _k_of(budget, body.get("k")),
        "hardware": hardware_label(body.get("hardware")),
    }


def _metric_row(path: Path, body: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        **_identity(path, body),
        "active_dims": _num(body.get("active_dims")),
        "bytes_per_doc": _num(body.get("bytes_per_doc")),
        "sparse": bool(body.get("sparse", False)),
        "h": _num(body.get("h")),
    }
    for name, value in (body.get("metrics") or {}).items():
        row[name] = _num(value)
    return row


def _bench_rows(path: Path, body: dict[str, Any]) -> list[dict[str, Any]]:
    common = {
        **_identity(path, body),
        "bytes_per_doc_stored": _num(body.get("bytes_per_doc_stored")),
        "database_n": _num((body.get("database") or {}).get("n")),
        "queries_n": _num((body.get("queries") or {}).get("n")),
    }
    keys = ("ms_per_query", "ms_per_batch", "queries_per_s", "bytes_per_doc", "index_bytes")
    return [
        {
            **common,
            "engine": str(e.get("engine", "?")),
            **{key: _num(e.get(key)) for key in (*keys, "build_s")},
        }
        for e in body.get("engines") or []
    ]


def _scaling_rows(path: Path, body: dict[str, Any]) -> list[dict[str, Any]]:
    common = {**_identity(path, body), "h": _num(body.get("h")), "d": _num(body.get("d"))}
    values = ("n", "ms_per_batch", "ms_per_query", "bytes_per_doc", "floor_ms", "x_floor")
    return [
        {
            **common,
            "engine": str(r.get("engine", "?")),
            "kind": str(r.get("kind", "?")),
            **{key: _num(r.get(key)) for key in (*values, "peak_rss_mb")},
        }
        for r in body.get("results") or []
    ]


def _training_row(path: Path, body: dict[str, Any]) -> dict[str, Any]:
    training = body.get("training") or {}
    final = training.get("final") or {}
    dead = training.get("dead_frac_end", final.get("dead_frac"))
    return {
        **_identity(path, body, depth=4),
        "d": _num(body.get("d")),
        "h": _num(body.get("h", training.get("h"))),
        "fit_seconds": _num(body.get("fit_seconds")),
        "dead_frac_end": _num(dead),
        "steps": _num(training.get("steps")),
        "samples_per_s": _num(training.get("samples_per_s")),
        "device": str(training.get("device", "")),
    }


def load_results(
    files: Iterable[str | Path] | None = None, root: str | Path = "results"
) -> Results:
    """Read result JSON files into DataFrames.

    `files`: the paths to read (what Snakemake lists as the rule's input); when None,
    every result file under `root`. Files whose path is not a result layout are ignored
    (e.g. `results/bench/retrieval_speed_h100.json`, a synthetic sweep with its own format).
    Raises NoResultsError when there is no metric file among them.
    """
    paths = [Path(p) for p in (result_files(root) if files is None else files)]
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in RESULT_KINDS}
    for path in sorted(paths):
        kind = classify(path)
        if kind is None:
            continue
        body = json.loads(path.read_text())
        if kind == "metrics":
            rows["metrics"].append(_metric_row(path, body))
        elif kind == "bench":
            rows["bench"].extend(_bench_rows(path, body))
        elif kind == "scaling":
            rows["scaling"].extend(_scaling_rows(path, body))
        else:
            rows["training"].append(_training_row(path, body))
    if not rows["metrics"]:
        raise NoResultsError(
            f"no metric JSON (results/metrics/{{experiment}}/{{method}}/{{budget}}.json) among "
            f"the {len(paths)} file(s) given: {RUN_HINT}"
        )
    metrics = pd.DataFrame(rows["metrics"])
    names = [c for c in metrics.columns if c not in (*METRIC_KEYS, "hardware")]
    return Results(
        metrics=metrics.sort_values(["experiment", "method", "k"], na_position="last"),
        bench=pd.DataFrame(rows["bench"], columns=BENCH_KEYS),
        scaling=pd.DataFrame(rows["scaling"], columns=SCALING_KEYS),
        training=pd.DataFrame(rows["training"], columns=TRAINING_KEYS),
        metric_names=names,
    )
