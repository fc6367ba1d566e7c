"""The paper-layout tables, built from the collected DataFrames and written three ways.

Each table is a DataFrame of percentages (or seconds, for timings) plus a title and a
caption; `write_table` writes it as CSV (full precision, for other tools), Markdown and
LaTeX (two decimals, as the paper prints). Layouts follow the paper:
- Table 4/5 (1-NN and linear-probe top-1): a row per k, a column per method, and a
  full-dimension row holding the unbudgeted methods (and budgeted ones evaluated at k = d);
- Table 1 (text): a row per (method, k), columns for classification, clustering and
  retrieval where the metrics exist, and retrieval time from the bench files;
- Table 2 (image-text): a row per (method, k), Recall@{1,5,10} both directions.
For the paper's own experiments the paper's numbers sit beside ours in "(paper)" columns.
Every accuracy is a mean over seeds with its interval's half-width in a "±" column after
it (`spread`); the caption says how many seeds and what the interval is. The tables of
paired tests and of tuning are in `stat_tables`; `table` formats and writes them all.
"""

from __future__ import annotations

import math

import pandas as pd

from csrbench.report import paper
from csrbench.report.collect import Results
from csrbench.report.finetune_time import training_time_tables
from csrbench.report.frontier import frontier_tables
from csrbench.report.labels import (
    k_label,
    method_label,
    metric_label,
    modality,
    present,
    sorted_methods,
)
from csrbench.report.spread import (
    SPREAD_SUFFIX,
    half_width,
    has_spread,
    insert_spread_columns,
    interval_of,
    spread_caption,
)
from csrbench.report.stat_tables import significance_table, tuning_table
from csrbench.report.table import Table

PAPER_SUFFIX = " (paper)"


def _hardware(rows: pd.DataFrame) -> str:
    machines = sorted(set(rows["hardware"].dropna())) if "hardware" in rows else []
    return "; ".join(machines) if machines else "unknown hardware"


def _provenance(experiment: str, metrics: list[str]) -> str:
    """What the caption says about the paper: its table, or that there is no number to show."""
    tables = sorted({t for m in metrics for t in paper.paper_tables(experiment, m)})
    if tables:
        return (
            f"Paper values ({paper.CITATION}, {', '.join(tables)}) are in the "
            f"'{PAPER_SUFFIX.strip()}' columns beside this run's."
        )
    if experiment in paper.PAPER_EXPERIMENTS:
        return "The paper's numbers for this table are not recorded here: only this run is shown."
    return (
        f"'{experiment}' is not one of the paper's experiments, so there is no published "
        "number to compare with: only this run is shown."
    )


def _full_dim(rows: pd.DataFrame) -> int | None:
    """d of an experiment: the active dims of its unbudgeted rows (the full embedding)."""
    full = rows.loc[rows["k"].isna(), "active_dims"].dropna()
    return int(full.max()) if len(full) else None


def budget_table(results: Results, experiment: str, metric: str, name: str, title: str) -> Table:
    """Paper Table 4/5 layout for one metric: rows k (then full-d), columns methods (%)."""
    rows = results.metrics[results.metrics["experiment"] == experiment]
    rows = rows[rows[metric].notna()]
    d = _full_dim(rows)
    full_label = f"full (d={d})" if d else "full"
    ref = paper.paper_values(experiment, metric)
    ks = sorted({int(k) for k in rows["k"].dropna()} | {int(k) for k in ref["k"].dropna()})
    index = [str(k) for k in ks]
    if rows["k"].isna().any() or ref["k"].isna().any():
        index.append(full_label)
    columns: list[str] = []
    frame = pd.DataFrame(index=pd.Index(index, name="k"), dtype=float)
    spread = has_spread(rows, [metric])
    for method in sorted_methods(set(rows["method"]) | set(ref["method"])):
        mine = rows[rows["method"] == method]
        col = method_label(method)
        frame[col] = math.nan
        frame[col + SPREAD_SUFFIX] = math.nan
        for _, r in mine.iterrows():
            is_full = math.isnan(r["k"]) or (d is not None and int(r["k"]) == d)
            cells = [str(int(r["k"]))] if not math.isnan(r["k"]) else []
            cells += [full_label] if is_full else []
            for cell in (c for c in cells if c in frame.index):
                frame.loc[cell, col] = 100 * r[metric]
                frame.loc[cell, col + SPREAD_SUFFIX] = half_width(r, metric)
        columns += [col, col + SPREAD_SUFFIX] if spread else [col]
        theirs = ref[ref["method"] == method]
        if len(theirs):
            pcol = paper.paper_label(method) + PAPER_SUFFIX  # what the paper calls it
            frame[pcol] = math.nan
            for _, r in theirs.iterrows():
                frame.loc[full_label if pd.isna(r["k"]) else str(int(r["k"])), pcol] = r["value"]
            columns.append(pcol)
        if mine.empty:  # a paper-only method: keep its paper column, drop our empty ones
            columns = [c for c in columns if c not in (col, col + SPREAD_SUFFIX)]
    caption = (
        f"{metric_label(metric)} of '{experiment}' by budget k (active dims; MRL and the "
        f"baselines keep m = k dims), with the full embedding in the last row. "
        f"{spread_caption(rows, [metric])} "
        f"{_provenance(experiment, [metric])} Measured on {_hardware(rows)}."
    )
    return Table(name, title, caption, frame[columns])


def _per_method_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """rows ordered by method then k, indexed by (method label, k label)."""
    rows = rows.assign(_rank=[sorted_methods(rows["method"]).index(m) for m in rows["method"]])
    rows = rows.sort_values(["_rank", "k"], na_position="last")
    index = pd.MultiIndex.from_arrays(
        [[method_label(m) for m in rows["method"]], [k_label(k) for k in rows["k"]]],
        names=["method", "k"],
    )
    return rows.set_index(index)


def _add_paper_columns(
    frame: pd.DataFrame, rows: pd.DataFrame, experiment: str, metrics: dict[str, str]
) -> pd.DataFrame:
    """Insert "<column> (paper)" after each column that the paper reports for `experiment`."""
    for metric, col in metrics.items():
        ref = paper.paper_values(experiment, metric)
        if ref.empty or col not in frame.columns:
            continue
        values = [
            next(
                (
                    v.value
                    for v in ref.itertuples()
                    if v.method == method and (pd.isna(v.k) if math.isnan(k) else v.k == k)
                ),
                math.nan,
            )
            for method, k in zip(rows["method"], rows["k"], strict=True)
        ]
        after = col + SPREAD_SUFFIX if col + SPREAD_SUFFIX in frame.columns else col
        frame.insert(frame.columns.get_loc(after) + 1, col + PAPER_SUFFIX, values)
    return frame


def retrieval_times(results: Results, experiment: str) -> pd.DataFrame:
    """Best engine's ms per query per (method, budget), and that time relative to `full`.

    Best = the fastest engine measured for those codes (dense codes get faiss/torch,
    sparse ones the sparse engines), i.e. what a user of that representation would pick.
    """
    bench = results.bench[results.bench["experiment"] == experiment]
    if bench.empty:
        return pd.DataFrame(columns=["method", "budget", "ms_per_query", "engine", "relative"])
    best = bench.loc[bench.groupby(["method", "budget"])["ms_per_query"].idxmin()]
    best = best[["method", "budget", "ms_per_query", "engine", "database_n"]]
    best = best.reset_index(drop=True)
    full = best.loc[best["method"] == "full", "ms_per_query"]
    best["relative"] = best["ms_per_query"] / full.iloc[0] if len(full) else math.nan
    return best


# below this many documents a per-query time measures overheads, not the search
MIN_TIMED_DOCS = 10_000

TEXT_COLUMNS = {
    "classification_accuracy": "Classification acc.",
    "v_measure": "Clustering V-measure",
    "hungarian_accuracy": "Clustering acc. (Hungarian)",
    "ndcg@10": "nDCG@10",
    "recall@10": "Recall@10",
    "mrr@10": "MRR@10",
}


def text_table(results: Results, experiment: str) -> Table:
    """Paper Table 1 layout: rows (method, k); classification, clustering, retrieval (%),
    and retrieval time (ms per query of the best engine, and relative to the full embedding)
    where the bench files exist."""
    rows = results.metrics[results.metrics["experiment"] == experiment]
    wanted = {m: c for m, c in TEXT_COLUMNS.items() if present(rows, m)}
    rows = _per_method_rows(rows)
    frame = pd.DataFrame({c: 100 * rows[m] for m, c in wanted.items()}, index=rows.index)
    if has_spread(rows, wanted):
        frame = insert_spread_columns(frame, rows, wanted)
    times = retrieval_times(results, experiment)
    timing = ""
    if not times.empty:
        keyed = times.set_index(["method", "budget"])
        pairs = list(zip(rows["method"], rows["budget"], strict=True))
        db = [keyed["database_n"].get(p, math.nan) for p in pairs]
        meaningful = [n >= MIN_TIMED_DOCS for n in db]
        # microseconds: a small database answers in a few us per query, which two decimals
        # of milliseconds would print as 0.00
        frame["us/query"] = [
            1e3 * keyed["ms_per_query"].get(p, math.nan) if ok else math.nan
            for p, ok in zip(pairs, meaningful, strict=True)
        ]
        frame["time vs full"] = [
            keyed["relative"].get(p, math.nan) if ok else math.nan
            for p, ok in zip(pairs, meaningful, strict=True)
        ]
        frame["db docs"] = db
        timing = (
            " Retrieval time: median microseconds per query (batches of 512) of the fastest "
            "engine for those codes, that time over the full embedding's, and the number of "
            "documents searched ('db docs')."
        )
        if not all(meaningful):
            timing += (
                f" Times on databases of fewer than {MIN_TIMED_DOCS:,} documents are left "
                "blank: at that size every method answers in microseconds and the differences "
                "are noise (see the database-size sweep for speed)."
            )
    caption = (
        f"Text tasks of '{experiment}' (%), per method and budget k. "
        f"{spread_caption(rows, wanted)}{timing} "
        f"{_provenance(experiment, list(wanted))} Measured on {_hardware(rows)}."
    )
    return Table(
        f"{experiment}_text",
        f"Text tasks: {experiment}",
        caption,
        frame,
        column_digits={"db docs": 0},  # a count, not a measurement
    )


CROSSMODAL_COLUMNS = {
    f"{d}_recall@{k}": f"{d.upper()} R@{k}" for d in ("i2t", "t2i") for k in (1, 5, 10)
}


def crossmodal_table(results: Results, experiment: str) -> Table:
    """Paper Table 2 layout: rows (method, k), Recall@{1,5,10} image->text and text->image."""
    rows = results.metrics[results.metrics["experiment"] == experiment]
    wanted = {m: c for m, c in CROSSMODAL_COLUMNS.items() if present(rows, m)}
    rows = _per_method_rows(rows)
    frame = pd.DataFrame({c: 100 * rows[m] for m, c in wanted.items()}, index=rows.index)
    if has_spread(rows, wanted):
        frame = insert_spread_columns(frame, rows, wanted)
    frame = _add_paper_columns(frame, rows, experiment, wanted)
    caption = (
        f"Image-text retrieval of '{experiment}', Recall@K (%), image->text (I2T) and "
        f"text->image (T2I), per method and budget k. {spread_caption(rows, wanted)} "
        f"{_provenance(experiment, list(wanted))} Measured on {_hardware(rows)}."
    )
    return Table(f"{experiment}_image_text", f"Image-text Recall@K: {experiment}", caption, frame)


def training_table(results: Results) -> Table | None:
    """One row per (experiment, method, budget): seeds fitted, then the mean over seeds of
    wall time and final dead-latent fraction, each with its interval's half-width, steps
    and throughput. The fine-tune behind mrl-ft has its own table (`{exp}_training_time`)."""
    t = results.fits()
    if t.empty:
        return None
    keys = ["experiment", "method", "budget"]
    records = []
    for (experiment, method, _budget), fits in t.groupby(keys, sort=False):
        fit_s, fit_h, _ = interval_of(fits["fit_seconds"])
        dead, dead_h, _ = interval_of(fits["dead_frac_end"])
        records.append(
            {
                "experiment": experiment,
                "method": method,
                "k": fits["k"].iloc[0],
                "seeds": len(fits),
                "fit s": fit_s,
                "fit s" + SPREAD_SUFFIX: fit_h,
                "dead latents (%)": 100 * dead,
                "dead latents (%)" + SPREAD_SUFFIX: 100 * dead_h,
                "steps": fits["steps"].max(),
                "samples/s": fits["samples_per_s"].mean(),
                "hardware": "; ".join(sorted(set(fits["hardware"]))),
            }
        )
    fits = pd.DataFrame(records)
    fits["_rank"] = [sorted_methods(fits["method"]).index(m) for m in fits["method"]]
    fits = fits.sort_values(["experiment", "_rank", "k"], na_position="last")
    index = pd.MultiIndex.from_arrays(
        [
            fits["experiment"],
            [method_label(m) for m in fits["method"]],
            [k_label(k) for k in fits["k"]],
        ],
        names=["experiment", "method", "k"],
    )
    frame = fits.drop(columns=["experiment", "method", "k", "_rank"]).set_index(index)
    frame["steps"] = frame["steps"].astype("Int64")
    caption = (
        "Every fit, averaged over its training seeds ('seeds'): wall time of the fit, the "
        "fraction of latents dead at the end of training (sparse methods), optimiser steps "
        "and samples per second. '±' is the half-width of the 95% Student-t interval of the "
        "mean over seeds, blank for one seed. k = full: one fit serves every budget. "
        "MRL fine-tune trains in its fine-tune: see the training-time tables."
    )
    return Table("training", "Training", caption, frame)


def build_tables(results: Results) -> list[Table]:
    """Every table the results support, in a stable order."""
    tables: list[Table] = []
    for experiment in results.experiments():
        rows = results.metrics[results.metrics["experiment"] == experiment]
        kind = modality(rows)
        if present(rows, "knn1_top1"):
            tables.append(
                budget_table(
                    results,
                    experiment,
                    "knn1_top1",
                    f"{experiment}_knn1",
                    f"1-NN top-1 accuracy vs k: {experiment}",
                )
            )
        if present(rows, "linear_probe_top1"):
            tables.append(
                budget_table(
                    results,
                    experiment,
                    "linear_probe_top1",
                    f"{experiment}_linear_probe",
                    f"Linear-probe top-1 accuracy vs k: {experiment}",
                )
            )
        if kind == "image-text":
            tables.append(crossmodal_table(results, experiment))
        if any(present(rows, m) for m in TEXT_COLUMNS):
            tables.append(text_table(results, experiment))
    for experiment in sorted(set(results.compare["experiment"])):
        tables.append(significance_table(results, experiment))
    for experiment in sorted(set(results.tuning["experiment"])):
        tables.append(tuning_table(results, experiment))
    tables += frontier_tables(results)
    tables += training_time_tables(results)
    training = training_table(results)
    if training is not None:
        tables.append(training)
    return tables
