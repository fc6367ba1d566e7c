"""Training time against accuracy (the paper's Fig. 1c), from
`results/training_time/{experiment}.json` (`csrbench.training_time`).

The paper's claim is that CSR, fitted after the backbone, costs a fraction of MRL's
backbone training. Here each post-hoc fit's time is its fit plus one extraction of the
training embeddings; the fine-tune's is its optimiser steps; both ran on the same
threads of the same machine. The fine-tune is scored at each checkpoint, so the figure
draws MRL's accuracy as it trains next to CSR's single point, and the table and the
verdict lines give the ratio of the two times at the accuracy each reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from csrbench.report.collect import Results
from csrbench.report.labels import method_label, metric_label, sorted_methods
from csrbench.report.plot import (
    BAR_STYLE,
    interval_note,
    legend,
    log_axis,
    new_figure,
    note_entry,
    styled,
)
from csrbench.report.spread import SPREAD_SUFFIX, interval_of
from csrbench.report.style import method_style
from csrbench.report.table import Table

FINETUNED = "mrl-ft"


def fit_frame(body: dict[str, Any]) -> pd.DataFrame:
    """One row per (method, k): mean and interval over seeds of seconds and score."""
    fits = pd.DataFrame(body["fits"])
    records = []
    for (method, k), rows in fits.groupby(["method", "k"], sort=True):
        seconds, _, _ = interval_of(rows["seconds"])
        score, half, n = interval_of(rows["score"])
        records.append(
            {
                "method": method,
                "k": int(k),
                "seconds": seconds,
                "score": score,
                "half": half,
                "n": n,
            }
        )
    return pd.DataFrame(records)


def curve_frame(body: dict[str, Any]) -> pd.DataFrame:
    """One row per (checkpoint step, k): mean seconds and mean/interval of the score
    over seeds, with the seeds at which validation chose that step."""
    rows = [
        {
            "step": p["step"],
            "fraction": p["fraction"],
            "seed": p["seed"],
            "seconds": p["seconds"],
            "chosen": p["chosen"],
            "k": int(k),
            "score": v,
        }
        for p in body["finetune"]
        for k, v in p["scores"].items()
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    records = []
    for (step, k), pts in frame.groupby(["step", "k"], sort=True):
        seconds, _, _ = interval_of(pts["seconds"])
        score, half, n = interval_of(pts["score"])
        records.append(
            {
                "step": int(step),
                "fraction": float(pts["fraction"].iloc[0]),
                "k": int(k),
                "seconds": seconds,
                "score": score,
                "half": half,
                "n": n,
                "chosen_seeds": int(pts["chosen"].sum()),
            }
        )
    return pd.DataFrame(records)


def chosen_frame(body: dict[str, Any]) -> pd.DataFrame:
    """Per k: the score of each seed's validation-chosen checkpoint (what `evaluate`
    reports for mrl-ft) and each seed's whole fine-tune time (every step is paid for,
    since validation picks the checkpoint after the last one)."""
    total: dict[int, float] = {}
    chosen: dict[tuple[int, int], float] = {}
    for p in body["finetune"]:
        total[p["seed"]] = max(total.get(p["seed"], 0.0), p["seconds"])
        if p["chosen"]:
            for k, v in p["scores"].items():
                chosen[(int(k), p["seed"])] = v
    records = []
    for k in sorted({k for k, _ in chosen}):
        seeds = sorted(s for kk, s in chosen if kk == k)
        score, half, n = interval_of([chosen[(k, s)] for s in seeds])
        seconds, _, _ = interval_of([total[s] for s in seeds])
        records.append({"k": k, "seconds": seconds, "score": score, "half": half, "n": n})
    return pd.DataFrame(records)


def _times_table(experiment: str, body: dict[str, Any]) -> Table | None:
    fits, ft = fit_frame(body), chosen_frame(body)
    if ft.empty or fits.empty:
        return None
    metric = metric_label(body["metric"])
    columns: dict[tuple[int, str], float] = {}
    # itertuples keeps each column's dtype (iterrows would turn the budgets into floats)
    for r in fits.itertuples():
        label = method_label(r.method)
        columns[(r.k, f"{label} (s)")] = r.seconds
        columns[(r.k, label)] = 100 * r.score
        columns[(r.k, label + SPREAD_SUFFIX)] = 100 * r.half
    ref = fits[fits["method"] == "csr"].set_index("k")["seconds"]
    label = method_label(FINETUNED)
    for r in ft.itertuples():
        columns[(r.k, f"{label} (s)")] = r.seconds
        columns[(r.k, label)] = 100 * r.score
        columns[(r.k, label + SPREAD_SUFFIX)] = 100 * r.half
        if r.k in ref.index:
            columns[(r.k, f"{label} / CSR time")] = r.seconds / ref[r.k]
    frame = pd.Series(columns).unstack()
    order = [m for m in sorted_methods([*fits["method"].unique(), FINETUNED])]
    cols = []
    for method in order:
        lab = method_label(method)
        cols += [c for c in (f"{lab} (s)", lab, lab + SPREAD_SUFFIX) if c in frame.columns]
    cols += [c for c in frame.columns if c.endswith("/ CSR time")]
    frame = frame[cols]
    frame.index.name = "k"
    emb = body["embedding"]
    return Table(
        name=f"{experiment}_training_time",
        title=f"Training time and {metric}: {experiment}",
        caption=(
            f"Post-hoc methods: seconds of fit plus one extraction of the training "
            f"embeddings ({emb['seconds']:.0f} s for the {emb['split']} split, counted for "
            f"every fit); {label}: seconds of the whole backbone fine-tune, scored at its "
            f"validation-chosen checkpoint. Fits and fine-tunes on "
            f"{threads_text(body['threads'])}; mean over seeds, ± 95% interval of the score."
        ),
        frame=frame,
        digits=1,
    )


def threads_text(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def training_time_tables(results: Results) -> list[Table]:
    tables = []
    for experiment, body in sorted(results.training_time_files.items()):
        table = _times_table(experiment, body)
        if table is not None:
            tables.append(table)
    return tables


@styled
def accuracy_vs_training_time(experiment: str, body: dict[str, Any]) -> Figure | None:
    """A panel per k: each post-hoc fit as one point at its time, the fine-tune as a line
    through its checkpoints; log time axis."""
    fits, curve = fit_frame(body), curve_frame(body)
    if fits.empty or curve.empty:
        return None
    ks = sorted(set(curve["k"]) & set(fits["k"]))
    fig, axes = new_figure(
        len(ks), f"{metric_label(body['metric'])} against training time: {experiment}"
    )
    seeds: list[int] = []
    for ax, k in zip(axes, ks, strict=True):
        for method in sorted_methods(fits["method"].unique()):
            r = fits[(fits["method"] == method) & (fits["k"] == k)]
            if r.empty:
                continue
            style = method_style(method)
            ax.plot(
                r["seconds"],
                100 * r["score"],
                label=method_label(method),
                linestyle="none",
                **{k_: v for k_, v in style.items() if k_ != "linestyle"},
            )
            _bars(ax, r, style["color"], seeds)
        c = curve[curve["k"] == k].sort_values("step")
        style = method_style(FINETUNED)
        ax.plot(
            c["seconds"],
            100 * c["score"],
            label=f"{method_label(FINETUNED)} (checkpoints)",
            **style,
        )
        _bars(ax, c, style["color"], seeds)
        log_axis(ax)
        xs = [*fits["seconds"], *curve["seconds"]]
        ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
        # a 3-seed t-interval can reach past 0 or 100%; the axis stays on the scale
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 101.0))
        ax.set_title(f"k = {k}")
        ax.set_xlabel("training time (s, log scale)")
        ax.set_ylabel(metric_label(body["metric"]))
    if seeds:
        note_entry(axes[-1], interval_note(seeds))
    legend(fig, axes)
    return fig


def _bars(ax: Any, rows: pd.DataFrame, color: str, seeds: list[int]) -> None:
    bars = rows[rows["n"] >= 2]
    if len(bars):
        ax.errorbar(
            bars["seconds"],
            100 * bars["score"],
            yerr=100 * bars["half"],
            ecolor=color,
            label="_interval",
            **BAR_STYLE,
        )
        seeds += [int(n) for n in bars["n"]]


def training_time_figures(results: Results) -> Iterator[tuple[str, Figure]]:
    for experiment, body in sorted(results.training_time_files.items()):
        fig = accuracy_vs_training_time(experiment, body)
        if fig is not None:
            yield f"{experiment}_accuracy_vs_training_time", fig


def training_time_lines(results: Results, experiment: str) -> list[str]:
    """One verdict line per k: CSR's time and score against the fine-tune's."""
    body = results.training_time_files.get(experiment)
    if body is None:
        return []
    fits, ft = fit_frame(body), chosen_frame(body)
    csr = fits[fits["method"] == "csr"].set_index("k")
    lines = []
    for _, r in ft.iterrows():
        k = int(r["k"])
        if k not in csr.index:
            continue
        c = csr.loc[k]
        ratio = r["seconds"] / c["seconds"]
        lines.append(
            f"- Training time at k = {k}: CSR {c['seconds']:.0f} s (with the embedding "
            f"extraction) for {_score(c)}; {method_label(FINETUNED)} {r['seconds']:.0f} s "
            f"({ratio:.1f}x CSR's) for {_score(r)}."
        )
    if lines:
        lines.insert(
            0,
            f"Training time ({threads_text(body['threads'])}, same machine; "
            f"{metric_label(body['metric'])} at the evaluated model):",
        )
    return lines


def _score(row: pd.Series) -> str:
    half = row["half"]
    text = f"{100 * row['score']:.1f}"
    return text if math.isnan(half) else f"{text} ± {100 * half:.1f}"
