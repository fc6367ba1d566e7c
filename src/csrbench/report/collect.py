"""Result JSON files -> pandas DataFrames, one per kind of result.

Experiment, method and budget are read from each file's path (the pipeline's layout
`results/metrics/{experiment}/{method}/{budget}.json`), not from the JSON body, so a file
written by an older or a hand-run job (where the body's `experiment` may be null) still
lands in the right row. Optional keys may be missing from any file (older runs, another
engineer's format): they become NaN, never an error.

Columns of the metrics frame besides METRIC_KEYS: one per metric holding its mean over
seeds (`knn1_top1`), and for each metric its spread over seeds, from the file's `spread`
block (a 95% Student-t interval of the mean, `csrbench.stats.seed_interval`):
`{metric}:std`, `{metric}:low`, `{metric}:high` (same units as the metric) and
`{metric}:n` (seeds behind it). `n_seeds` is the length of the file's `seeds`. A file
without `spread` (an older run) gets the interval of its `per_seed` values when it has
them, else NaN.
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
from csrbench.stats import seed_interval

RESULT_KINDS = ("metrics", "bench", "scaling", "training", "compare", "frontier", "tune")
# the columns of each frame besides the metric columns (metrics frame) or engine values
METRIC_KEYS = [
    "experiment",
    "method",
    "budget",
    "k",
    "active_dims",
    "bytes_per_doc",
    "sparse",
    "h",
    "n_seeds",
]
SPREAD_STATS = ("std", "low", "high", "n")
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
    "seed",
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
# one row per comparison of results/compare/{experiment}.json; `a_*` is the reference
# (CSR) configuration, `b_*` the other method's; diff = a - b, in metric units
_SIDE = ("method", "budget", "k", "bytes_per_doc", "mean")
COMPARE_KEYS = [
    "experiment",
    "metric",
    "axis",
    "budget",
    *(f"{side}_{key}" for side in "ab" for key in _SIDE),
    "diff",
    "diff_low",
    "diff_high",
    "p_value",
    "p_holm",
    "significant",
    "n_items",
    "n_resamples",
    "confidence",
]
# one row per trial of results/tune/{experiment}/{method}.json; `params` as "key=value, ..."
TUNING_KEYS = [
    "experiment",
    "method",
    "k",
    "seed",
    "metric",
    "split",
    "trial",
    "params",
    "score",
    "fit_seconds",
    "chosen",
]


def spread_column(metric: str, stat: str) -> str:
    """The metrics frame's column of one spread statistic: `knn1_top1:low`."""
    if stat not in SPREAD_STATS:
        raise ValueError(f"unknown spread statistic {stat!r}: one of {SPREAD_STATS}")
    return f"{metric}:{stat}"


@dataclass
class Results:
    """Everything the report draws on; each frame may be empty except `metrics`."""

    metrics: pd.DataFrame  # one row per (experiment, method, budget); a column per metric
    bench: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BENCH_KEYS))
    scaling: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCALING_KEYS))
    training: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRAINING_KEYS))
    compare: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COMPARE_KEYS))
    tuning: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TUNING_KEYS))
    metric_names: list[str] = field(default_factory=list)
    # experiment -> the compare file's body as written (what `verdicts` reads)
    compare_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # experiment -> results/frontier/{experiment}.json as written (`report.frontier`)
    frontier_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # experiment -> results/training_time/{experiment}.json (`report.finetune_time`)
    training_time_files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def experiments(self) -> list[str]:
        return sorted(self.metrics["experiment"].unique())

    def fits(self) -> pd.DataFrame:
        """The training rows of methods whose fit is their training: mrl-ft's "fit" only
        reads prefixes of a fine-tuned backbone (its training is the fine-tune, in
        `training_time_files`) and csr-st's weights are released, so their milliseconds
        would pass for a training time."""
        from csrbench.methods.registry import method_spec

        t = self.training
        fitted = [
            m
            for m in t["method"].unique()
            if not (method_spec(m).finetuned or method_spec(m).imported)
        ]
        return t[t["method"].isin(fitted)]


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


def _spread(body: dict[str, Any], name: str) -> dict[str, float]:
    """One metric's spread over seeds: the file's `spread` entry, else the interval of
    its `per_seed` values, else NaN."""
    given = (body.get("spread") or {}).get(name)
    if given is None:
        values = [_num(v) for v in (body.get("per_seed") or {}).get(name) or []]
        if values and all(math.isfinite(v) for v in values):
            given = seed_interval(values).as_dict()
    given = given or {}
    return {spread_column(name, stat): _num(given.get(stat)) for stat in SPREAD_STATS}


def _metric_row(path: Path, body: dict[str, Any]) -> dict[str, Any]:
    seeds = body.get("seeds")
    row: dict[str, Any] = {
        **_identity(path, body),
        "active_dims": _num(body.get("active_dims")),
        "bytes_per_doc": _num(body.get("bytes_per_doc")),
        "sparse": bool(body.get("sparse", False)),
        "h": _num(body.get("h")),
        "n_seeds": float(len(seeds)) if isinstance(seeds, list) and seeds else math.nan,
    }
    for name, value in (body.get("metrics") or {}).items():
        row[name] = _num(value)
        row.update(_spread(body, name))
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
    seeded = path.parent.name.startswith("seed")  # .../{budget}/seed{s}/summary.json
    seed = body.get("seed", path.parent.name[4:] if seeded else None)
    return {
        **_identity(path.parent if seeded else path, body, depth=4),
        "seed": _num(seed),
        "d": _num(body.get("d")),
        "h": _num(body.get("h", training.get("h"))),
        "fit_seconds": _num(body.get("fit_seconds")),
        "dead_frac_end": _num(dead),
        "steps": _num(training.get("steps")),
        "samples_per_s": _num(training.get("samples_per_s")),
        "device": str(training.get("device", "")),
    }


def _compare_rows(path: Path, body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in body.get("comparisons") or []:
        row: dict[str, Any] = {"experiment": path.stem, "metric": c.get("metric")}
        row["axis"], row["budget"] = c.get("axis"), _num(c.get("budget"))
        for side in "ab":
            config = c.get(side) or {}
            for key in _SIDE:
                value = config.get(key)
                row[f"{side}_{key}"] = value if key in ("method", "budget") else _num(value)
        for key in ("diff", "diff_low", "diff_high", "p_value", "p_holm"):
            row[key] = _num(c.get(key))
        row["significant"] = bool(c.get("significant"))
        for key in ("n_items", "n_resamples", "confidence"):
            row[key] = _num(c.get(key))
        rows.append(row)
    return rows


def params_label(params: dict[str, Any]) -> str:
    """A trial's settings as one cell: "lr=0.0004, l1=0.125" (the grid's key order)."""
    return ", ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in params.items()
    )


def _tuning_rows(path: Path, body: dict[str, Any]) -> list[dict[str, Any]]:
    chosen = body.get("chosen")
    common = {
        "experiment": path.parent.name,
        "method": path.stem,
        "k": _num(body.get("k")),
        "seed": _num(body.get("seed")),
        "metric": str(body.get("metric", "?")),
        "split": str(body.get("split", "?")),
    }
    trials = body.get("trials") or []
    # the first trial with the chosen settings (the tuner breaks ties by grid order)
    first = next((i for i, t in enumerate(trials) if t.get("params") == chosen), None)
    return [
        {
            **common,
            "trial": i,
            "params": params_label(t.get("params") or {}),
            "score": _num(t.get("score")),
            "fit_seconds": _num(t.get("fit_seconds")),
            "chosen": i == first,
        }
        for i, t in enumerate(trials)
    ]


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
    compare_files: dict[str, dict[str, Any]] = {}
    frontier_files: dict[str, dict[str, Any]] = {}
    training_time_files: dict[str, dict[str, Any]] = {}
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
        elif kind == "compare":
            compare_files[path.stem] = body
            rows["compare"].extend(_compare_rows(path, body))
        elif kind == "frontier":
            frontier_files[path.stem] = body
        elif kind == "training_time":
            training_time_files[path.stem] = body
        elif kind == "tune":
            rows["tune"].extend(_tuning_rows(path, body))
        else:
            rows["training"].append(_training_row(path, body))
    if not rows["metrics"]:
        raise NoResultsError(
            f"no metric JSON (results/metrics/{{experiment}}/{{method}}/{{budget}}.json) among "
            f"the {len(paths)} file(s) given: {RUN_HINT}"
        )
    metrics = pd.DataFrame(rows["metrics"])
    names = [c for c in metrics.columns if c not in (*METRIC_KEYS, "hardware") and ":" not in c]
    return Results(
        metrics=metrics.sort_values(["experiment", "method", "k"], na_position="last"),
        bench=pd.DataFrame(rows["bench"], columns=BENCH_KEYS),
        scaling=pd.DataFrame(rows["scaling"], columns=SCALING_KEYS),
        training=pd.DataFrame(rows["training"], columns=TRAINING_KEYS),
        compare=pd.DataFrame(rows["compare"], columns=COMPARE_KEYS),
        tuning=pd.DataFrame(rows["tune"], columns=TUNING_KEYS),
        metric_names=names,
        compare_files=compare_files,
        frontier_files=frontier_files,
        training_time_files=training_time_files,
    )
