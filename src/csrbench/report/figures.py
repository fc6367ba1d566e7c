"""Every figure of the report, each a function from the collected results to
`matplotlib.figure.Figure` objects (no pyplot: no global state, nothing to leak
between figures); `plot.save_figure` writes PNG and PDF atomically. Accuracies are means
over seeds; where a mean stands on two or more seeds its 95% interval is an error bar,
and the legend says so ("mean ± 95% interval over 3 seeds").

Figures drawn (each only where its data exists):
- `{experiment}_accuracy_vs_k`: each metric panel vs budget k, every method;
- `{experiment}_accuracy_vs_time`: headline metric vs retrieval ms/query (paper Fig. 1b);
- `{experiment}_accuracy_vs_bytes`: headline metric vs bytes per document;
- `{experiment}_time_vs_database_size`: retrieval time vs n from the scaling sweeps (Fig. 3);
- `dead_latents_vs_k`: final dead-latent fraction of the sparse fits;
- `training_time`: wall time of every fit (Fig. 1c);
- `accuracy_vs_h`: only when some method was run at more than one hidden size h.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from csrbench.report import paper
from csrbench.report.collect import Results, spread_column
from csrbench.report.finetune_time import training_time_figures
from csrbench.report.frontier import frontier_figures
from csrbench.report.labels import (
    headline_metric,
    k_label,
    method_label,
    metric_label,
    modality,
    present,
    sorted_methods,
)
from csrbench.report.plot import (
    K_AXIS,
    interval_bars,
    interval_note,
    label_points,
    legend,
    log2_ticks,
    log_axis,
    new_figure,
    note_entry,
    save_figure,
    styled,
)
from csrbench.report.style import method_style, paper_style
from csrbench.report.tables import retrieval_times
from csrbench.report.training_figures import dead_latents_vs_k, training_time

__all__ = [
    "accuracy_vs_bytes",
    "accuracy_vs_h",
    "accuracy_vs_k",
    "accuracy_vs_time",
    "build_figures",
    "dead_latents_vs_k",
    "save_figure",
    "time_vs_database_size",
    "training_time",
]

PANELS = {
    "image": ["knn1_top1", "linear_probe_top1"],
    "text": ["ndcg@10", "recall@10", "classification_accuracy", "v_measure"],
    "image-text": ["i2t_recall@5", "t2i_recall@5", "i2t_recall@1", "t2i_recall@1"],
}


def _experiment_rows(results: Results, experiment: str) -> pd.DataFrame:
    return results.metrics[results.metrics["experiment"] == experiment]


@styled
def accuracy_vs_k(results: Results, experiment: str) -> Figure | None:
    """Each of the experiment's metrics vs k: budgeted methods as lines, the unbudgeted
    ones (full embedding, quantisations) as horizontal lines, the paper's values hollow."""
    rows = _experiment_rows(results, experiment)
    metrics = [m for m in PANELS[modality(rows)] if present(rows, m)]
    if not metrics:
        return None
    fig, axes = new_figure(len(metrics), f"{experiment}: accuracy vs budget k")
    ks = rows["k"].dropna()
    seeds: list[int] = []
    for ax, metric in zip(axes, metrics, strict=True):
        for method in sorted_methods(rows["method"]):
            mine = rows[(rows["method"] == method) & rows[metric].notna()].sort_values("k")
            style = method_style(method)
            budgeted = mine[mine["k"].notna()]
            if len(budgeted):
                ax.plot(budgeted["k"], 100 * budgeted[metric], label=method_label(method), **style)
                seeds += interval_bars(ax, budgeted["k"], budgeted, metric, style["color"])
            for _, r in mine[mine["k"].isna()].iterrows():
                ax.axhline(
                    100 * r[metric],
                    color=style["color"],
                    linestyle=style["linestyle"],
                    linewidth=1.0,
                    label=f"{method_label(method)} (d={_d(rows)})",
                )
                seeds += _interval_band(ax, r, metric, style["color"])
        ref = paper.paper_values(experiment, metric)
        for method in sorted_methods(ref["method"]):
            pts = ref[(ref["method"] == method) & ref["k"].notna()]
            if len(pts):
                ax.plot(
                    pts["k"],
                    pts["value"],
                    label=f"{paper.paper_label(method)} (paper)",
                    **paper_style(method),
                )
        log2_ticks(ax, list(ks) + list(ref["k"].dropna()))
        ax.set_xlabel(K_AXIS)
        ax.set_ylabel(metric_label(metric))
    _note(axes, seeds)
    legend(fig, axes)
    return fig


def _interval_band(ax: Axes, row: pd.Series, metric: str, color: str) -> list[int]:
    """A reference line's seed interval as a faint band (an unbudgeted method has no x)."""
    n = row.get(spread_column(metric, "n"), float("nan"))
    low = row.get(spread_column(metric, "low"), float("nan"))
    high = row.get(spread_column(metric, "high"), float("nan"))
    if pd.isna(n) or n < 2 or pd.isna(low) or pd.isna(high):
        return []
    ax.axhspan(100 * low, 100 * high, color=color, alpha=0.12, linewidth=0, label="_interval")
    return [int(n)]


def _note(axes: list[Axes], seeds: list[int]) -> None:
    """The legend entry that says what the error bars are, when any was drawn."""
    if seeds:
        note_entry(axes[-1], interval_note(seeds))


def _d(rows: pd.DataFrame) -> str:
    full = rows.loc[rows["k"].isna(), "active_dims"].dropna()
    return str(int(full.max())) if len(full) else "full"


def _method_curves(
    ax: Axes, frame: pd.DataFrame, x: str, metric: str, order: str
) -> tuple[list[int], list[tuple[float, float, str, str]]]:
    """One line per method through its (x, metric %) points in `order`, with seed-interval
    error bars; returns the seed counts of the bars drawn and the points to label with k
    (by `plot.label_points`, once the figure is laid out)."""
    seeds: list[int] = []
    points: list[tuple[float, float, str, str]] = []
    for method in sorted_methods(frame["method"]):
        pts = frame[frame["method"] == method].sort_values(order)
        style = method_style(method)
        ax.plot(pts[x], 100 * pts[metric], label=method_label(method), **style)
        seeds += interval_bars(ax, pts[x], pts, metric, style["color"])
        points += [
            (px, 100 * py, k_label(k), style["color"])
            for px, py, k in zip(pts[x], pts[metric], pts["k"], strict=True)
        ]
    return seeds, points


@styled
def accuracy_vs_time(results: Results, experiment: str) -> Figure | None:
    """Headline metric vs retrieval time per query (log): one point per method and k,
    the time being the fastest engine measured for those codes (paper Fig. 1b)."""
    rows = _experiment_rows(results, experiment)
    metric = headline_metric(rows)
    times = retrieval_times(results, experiment)
    if metric is None or times.empty:
        return None
    spread = [
        spread_column(metric, s) for s in ("n", "low", "high") if spread_column(metric, s) in rows
    ]
    joined = rows.merge(times, on=["method", "budget"])[
        ["method", "k", metric, *spread, "ms_per_query"]
    ]
    joined = joined.dropna(subset=[metric, "ms_per_query"])
    if joined.empty:
        return None
    hardware = ", ".join(
        sorted(set(results.bench.loc[results.bench["experiment"] == experiment, "hardware"]))
    )
    sizes = sorted({int(n) for n in times["database_n"].dropna()})
    where = f"{' / '.join(f'{n:,}' for n in sizes)} documents, " if sizes else ""
    fig, (ax,) = new_figure(1, f"{experiment}: accuracy vs retrieval time\n{where}{hardware}")
    seeds, points = _method_curves(ax, joined, "ms_per_query", metric, order="k")
    log_axis(ax)
    ax.set_xlabel("ms per query (log scale, fastest engine)")
    ax.set_ylabel(metric_label(metric))
    _note([ax], seeds)
    legend(fig, [ax])
    label_points(fig, ax, points)
    return fig


@styled
def accuracy_vs_bytes(results: Results, experiment: str) -> Figure | None:
    """Headline metric vs stored bytes per document (sparse: indices + values)."""
    rows = _experiment_rows(results, experiment)
    metric = headline_metric(rows)
    if metric is None:
        return None
    pts_all = rows.dropna(subset=[metric, "bytes_per_doc"])
    pts_all = pts_all[pts_all["bytes_per_doc"] > 0]
    if pts_all.empty:
        return None
    fig, (ax,) = new_figure(1, f"{experiment}: accuracy vs bytes per document")
    seeds, points = _method_curves(ax, pts_all, "bytes_per_doc", metric, order="bytes_per_doc")
    log2_ticks(ax, pts_all["bytes_per_doc"])
    ax.set_xlabel("bytes per document (log scale)")
    ax.set_ylabel(metric_label(metric))
    _note([ax], seeds)
    legend(fig, [ax])
    label_points(fig, ax, points)
    return fig


ENGINE_LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))]


def count_label(n: float) -> str:
    """10000 -> "10k", 1000000 -> "1M": database sizes as a reader says them."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:g}{suffix}"
    return f"{n:g}"


@styled
def time_vs_database_size(results: Results, experiment: str) -> Figure | None:
    """Retrieval ms per query vs database size n (log-log), a line per (method, k, engine):
    colour = method (dense engines in the full embedding's colour, as they search the
    full-width vectors), line style = engine (paper Fig. 3). Each engine's
    memory-bandwidth floor is a faint dotted line in its colour; every line and floor is
    named at its right end (floors that coincide, e.g. faiss's and torch's, share one
    name), so no line needs the legend to be told apart."""
    scaling = results.scaling[results.scaling["experiment"] == experiment]
    scaling = scaling.dropna(subset=["n", "ms_per_query"])
    if scaling.empty:
        return None
    hardware = ", ".join(sorted(set(scaling["hardware"])))
    fig, (ax,) = new_figure(1, f"{experiment}: retrieval time vs database size\n({hardware})")
    fig.set_size_inches(6.4, 4.8)
    engines = sorted(set(scaling["engine"]))
    ends: list[tuple[float, float, str, str]] = []
    floors: dict[tuple[str, tuple[float, ...]], tuple[list[str], pd.Series, pd.Series]] = {}
    for (method, _budget, engine), line in scaling.groupby(["method", "budget", "engine"]):
        line = line.sort_values("n")
        # dense engines search the backbone's full-width vectors, not the method's codes
        dense = (line["kind"] == "dense").all()
        style = method_style("full" if dense else str(method))
        label = (
            f"{method_label('full')} d={k_label(line['d'].iloc[0])} ({engine})"
            if dense
            else f"{method_label(str(method))} k={k_label(line['k'].iloc[0])} ({engine})"
        )
        ax.plot(
            line["n"],
            line["ms_per_query"],
            color=style["color"],
            marker=style["marker"],
            linestyle=ENGINE_LINESTYLES[engines.index(engine) % len(ENGINE_LINESTYLES)],
            label=label,
        )
        ends.append((line["n"].iloc[-1], line["ms_per_query"].iloc[-1], engine, style["color"]))
        if line["floor_ms"].notna().any() and line["ms_per_batch"].notna().any():
            per_query = line["floor_ms"] * line["ms_per_query"] / line["ms_per_batch"]
            key = (style["color"], tuple(np.round(per_query.to_numpy(), 12)))
            names = floors.setdefault(key, ([], line["n"], per_query))[0]
            names.append(str(engine))
    for (color, _), (names, n, per_query) in floors.items():
        ax.plot(
            n,
            per_query,
            color=color,
            linestyle=(0, (1, 2)),
            linewidth=0.8,
            alpha=0.7,
            label="memory-bandwidth floor (dotted, named per engine)",
        )
        ends.append((n.iloc[-1], per_query.iloc[-1], f"floor: {', '.join(names)}", color))
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: count_label(v)))
    log_axis(ax, "y")
    low, high = ax.get_xlim()
    ax.set_xlim(low, high * 6)  # room for the names at the lines' right ends
    ax.set_xlabel("database size n (documents, log scale)")
    ax.set_ylabel("ms per query (log scale)")
    legend(fig, [ax])
    label_points(fig, ax, ends)
    return fig


def _fit_values(results: Results, column: str) -> list[float]:
    """`column` (h or d) of each metric row: the metric file's own, else that of the fit
    serving it (the per-k fit `k32` for the CSR family, the one fit `all` otherwise); NaN
    when unknown."""
    fits = {
        (r.experiment, r.method, r.budget): getattr(r, column)
        for r in results.training.itertuples()
        if not pd.isna(getattr(r, column))
    }
    own = results.metrics.get(column)
    return [
        own.iloc[i]
        if own is not None and not pd.isna(own.iloc[i])
        else fits.get((r.experiment, r.method, r.budget), fits.get((r.experiment, r.method, "all")))
        for i, r in enumerate(results.metrics.itertuples())
    ]


@styled
def accuracy_vs_h(results: Results) -> Figure | None:
    """Headline metric vs hidden size h (paper Fig. 5), drawn only when a method was fitted
    at more than one h on the same backbone width d (an h sweep is a set of experiments
    that differ in `h`); experiments on other backbones never share a line."""
    m = results.metrics.assign(h=_fit_values(results, "h"), d=_fit_values(results, "d"))
    m = m.dropna(subset=["h", "d"])
    sweeps = [key for key, g in m.groupby(["method", "d"]) if g["h"].nunique() > 1]
    if not sweeps:
        return None
    m = m[[key in sweeps for key in zip(m["method"], m["d"], strict=True)]]
    m = m.assign(_metric=[headline_metric(_experiment_rows(results, e)) for e in m["experiment"]])
    metrics = [x for x in dict.fromkeys(m["_metric"]) if x]
    fig, axes = new_figure(len(metrics), "accuracy vs hidden size h")
    for ax, metric in zip(axes, metrics, strict=True):
        rows = m[m["_metric"] == metric].dropna(subset=[metric])
        ranks: dict[str, int] = {}  # lines of one method told apart by dash and fill
        for (method, d, k), line in rows.groupby(["method", "d", "k"], dropna=False):
            line = line.groupby("h")[metric].mean()
            style = method_style(str(method))
            rank = ranks[str(method)] = ranks.get(str(method), -1) + 1
            width = f" (d={k_label(d)})" if rows["d"].nunique() > 1 else ""
            ax.plot(
                line.index,
                100 * line.to_numpy(),
                color=style["color"],
                marker=style["marker"],
                linestyle=ENGINE_LINESTYLES[rank % len(ENGINE_LINESTYLES)],
                markerfacecolor=style["color"] if rank % 2 == 0 else "white",
                label=f"{method_label(str(method))} k={k_label(k)}{width}",
            )
        log2_ticks(ax, rows["h"])
        ax.set_xlabel("hidden size h (log scale)")
        ax.set_ylabel(metric_label(metric))
    legend(fig, axes)
    return fig


def build_figures(results: Results) -> Iterator[tuple[str, Figure]]:
    """(name, Figure) for every figure the results support, in a stable order."""
    for experiment in results.experiments():
        for name, make in (
            ("accuracy_vs_k", accuracy_vs_k),
            ("accuracy_vs_time", accuracy_vs_time),
            ("accuracy_vs_bytes", accuracy_vs_bytes),
            ("time_vs_database_size", time_vs_database_size),
        ):
            fig = make(results, experiment)
            if fig is not None:
                yield f"{experiment}_{name}", fig
    yield from frontier_figures(results)
    yield from training_time_figures(results)
    for name, make in (
        ("dead_latents_vs_k", dead_latents_vs_k),
        ("training_time", training_time),
        ("accuracy_vs_h", accuracy_vs_h),
    ):
        fig = make(results)
        if fig is not None:
            yield name, fig
