"""Every figure of the report, each a function from the collected results to
`matplotlib.figure.Figure` objects (no pyplot: no global state, nothing to leak
between figures), plus `save_figure`, which writes PNG and PDF atomically.

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

import functools
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from csrbench.atomic import atomic_path
from csrbench.report import paper
from csrbench.report.collect import Results
from csrbench.report.labels import (
    headline_metric,
    k_label,
    method_label,
    metric_label,
    modality,
    present,
    sorted_methods,
)
from csrbench.report.style import PANEL_SIZE, RC, method_style, paper_style
from csrbench.report.tables import retrieval_times

PANELS = {
    "image": ["knn1_top1", "linear_probe_top1"],
    "text": ["ndcg@10", "recall@10", "classification_accuracy", "v_measure"],
    "image-text": ["i2t_recall@5", "t2i_recall@5", "i2t_recall@1", "t2i_recall@1"],
}
K_AXIS = "active dimensions k (log scale)"


def styled(make: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Draw a whole figure inside the report's rc settings (line widths, fonts and legend
    frames are read from rcParams when each artist is created, not when it is saved)."""

    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return make(*args, **kwargs)

    return wrapper


def _figure(n_panels: int, title: str) -> tuple[Figure, list[Axes]]:
    cols = min(n_panels, 2)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n_panels]


def _log2_ticks(ax: Axes, values, axis: str = "x") -> None:
    """A log2 axis labelled at the values themselves (8, 16, 32 rather than 2^3 ...)."""
    ticks = sorted({float(v) for v in values if v and not math.isnan(v)})
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    target.set_major_locator(FixedLocator(ticks))
    target.set_minor_locator(NullLocator())
    target.set_ticklabels([f"{t:g}" for t in ticks])


def _log_axis(ax: Axes, axis: str = "x") -> None:
    """A log axis labelled 0.2, 0.5, 1 rather than 2x10^-1; minor labels only when the
    data spans less than a decade (otherwise they crowd)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    target.set_major_formatter(plain)
    low, high = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    narrow = low > 0 and high / low < 10
    target.set_minor_formatter(plain if narrow else NullFormatter())


def _legend(fig: Figure, axes: list[Axes]) -> None:
    """One legend for the whole figure, below the panels, without duplicate entries."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(
            list(seen.values()),
            list(seen),
            loc="outside lower center",
            ncol=min(len(seen), 2 * min(len(axes), 2)),  # two entries per panel width
        )


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
    fig, axes = _figure(len(metrics), f"{experiment}: accuracy vs budget k")
    ks = rows["k"].dropna()
    for ax, metric in zip(axes, metrics, strict=True):
        for method in sorted_methods(rows["method"]):
            mine = rows[(rows["method"] == method) & rows[metric].notna()].sort_values("k")
            style = method_style(method)
            budgeted = mine[mine["k"].notna()]
            if len(budgeted):
                ax.plot(budgeted["k"], 100 * budgeted[metric], label=method_label(method), **style)
            for value in mine.loc[mine["k"].isna(), metric]:
                ax.axhline(
                    100 * value,
                    color=style["color"],
                    linestyle=style["linestyle"],
                    linewidth=1.0,
                    label=f"{method_label(method)} (d={_d(rows)})",
                )
        ref = paper.paper_values(experiment, metric)
        for method in sorted_methods(ref["method"]):
            pts = ref[(ref["method"] == method) & ref["k"].notna()]
            if len(pts):
                ax.plot(
                    pts["k"],
                    pts["value"],
                    label=f"{method_label(method)} (paper)",
                    **paper_style(method),
                )
        _log2_ticks(ax, list(ks) + list(ref["k"].dropna()))
        ax.set_xlabel(K_AXIS)
        ax.set_ylabel(metric_label(metric))
    _legend(fig, axes)
    return fig


def _d(rows: pd.DataFrame) -> str:
    full = rows.loc[rows["k"].isna(), "active_dims"].dropna()
    return str(int(full.max())) if len(full) else "full"


def _annotate_k(ax: Axes, xs, ys, ks, color: str) -> None:
    for x, y, k in zip(xs, ys, ks, strict=True):
        ax.annotate(
            k_label(k), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6.5, color=color
        )


def _method_curves(ax: Axes, frame: pd.DataFrame, x: str, metric: str, order: str) -> None:
    """One line per method through its (x, metric %) points in `order`, each labelled k."""
    for method in sorted_methods(frame["method"]):
        pts = frame[frame["method"] == method].sort_values(order)
        style = method_style(method)
        ax.plot(pts[x], 100 * pts[metric], label=method_label(method), **style)
        _annotate_k(ax, pts[x], 100 * pts[metric], pts["k"], style["color"])


@styled
def accuracy_vs_time(results: Results, experiment: str) -> Figure | None:
    """Headline metric vs retrieval time per query (log): one point per method and k,
    the time being the fastest engine measured for those codes (paper Fig. 1b)."""
    rows = _experiment_rows(results, experiment)
    metric = headline_metric(rows)
    times = retrieval_times(results, experiment)
    if metric is None or times.empty:
        return None
    joined = rows.merge(times, on=["method", "budget"])[["method", "k", metric, "ms_per_query"]]
    joined = joined.dropna(subset=[metric, "ms_per_query"])
    if joined.empty:
        return None
    hardware = ", ".join(
        sorted(set(results.bench.loc[results.bench["experiment"] == experiment, "hardware"]))
    )
    fig, (ax,) = _figure(1, f"{experiment}: accuracy vs retrieval time\n({hardware})")
    _method_curves(ax, joined, "ms_per_query", metric, order="k")
    _log_axis(ax)
    ax.set_xlabel("ms per query (log scale, fastest engine)")
    ax.set_ylabel(metric_label(metric))
    _legend(fig, [ax])
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
    fig, (ax,) = _figure(1, f"{experiment}: accuracy vs bytes per document")
    _method_curves(ax, pts_all, "bytes_per_doc", metric, order="bytes_per_doc")
    _log2_ticks(ax, pts_all["bytes_per_doc"])
    ax.set_xlabel("bytes per document (log scale)")
    ax.set_ylabel(metric_label(metric))
    _legend(fig, [ax])
    return fig


ENGINE_LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))]


@styled
def time_vs_database_size(results: Results, experiment: str) -> Figure | None:
    """Retrieval ms per query vs database size n (log-log), a line per (method, k, engine):
    colour = method (dense engines in the full embedding's colour, as they search the
    full-width vectors), line style = engine (paper Fig. 3)."""
    scaling = results.scaling[results.scaling["experiment"] == experiment]
    scaling = scaling.dropna(subset=["n", "ms_per_query"])
    if scaling.empty:
        return None
    hardware = ", ".join(sorted(set(scaling["hardware"])))
    fig, (ax,) = _figure(1, f"{experiment}: retrieval time vs database size\n({hardware})")
    engines = sorted(set(scaling["engine"]))
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
        if line["floor_ms"].notna().any() and line["ms_per_batch"].notna().any():
            per_query = line["floor_ms"] * line["ms_per_query"] / line["ms_per_batch"]
            ax.plot(
                line["n"],
                per_query,
                color=style["color"],
                linestyle=(0, (1, 2)),
                linewidth=0.8,
                label="memory-bandwidth floor (per engine)",
            )
    ax.set_xscale("log")
    _log_axis(ax, "y")
    ax.set_xlabel("database size n (documents, log scale)")
    ax.set_ylabel("ms per query (log scale)")
    _legend(fig, [ax])
    return fig


@styled
def dead_latents_vs_k(results: Results) -> Figure | None:
    """Fraction of latents dead at the end of training vs k, per sparse method, a panel
    per experiment (dead = not active for the trainer's dead-latent threshold of steps)."""
    t = results.training.dropna(subset=["dead_frac_end", "k"])
    if t.empty:
        return None
    experiments = sorted(set(t["experiment"]))
    fig, axes = _figure(len(experiments), "dead latents at the end of training")
    for ax, experiment in zip(axes, experiments, strict=True):
        rows = t[t["experiment"] == experiment]
        for method in sorted_methods(rows["method"]):
            pts = rows[rows["method"] == method].sort_values("k")
            ax.plot(
                pts["k"],
                100 * pts["dead_frac_end"],
                label=method_label(method),
                **method_style(method),
            )
        _log2_ticks(ax, rows["k"])
        ax.set_ylim(bottom=0)
        ax.set_title(experiment)
        ax.set_xlabel(K_AXIS)
        ax.set_ylabel("dead latents (%)")
    _legend(fig, axes)
    return fig


@styled
def training_time(results: Results) -> Figure | None:
    """Wall time of every fit, a panel per experiment (paper Fig. 1c); log axis because a
    PCA or truncation fit takes milliseconds and a CSR fit minutes."""
    t = results.training.dropna(subset=["fit_seconds"])
    t = t[t["fit_seconds"] > 0]
    if t.empty:
        return None
    experiments = sorted(set(t["experiment"]))
    fig, axes = _figure(len(experiments), "training time per fit")
    for ax, experiment in zip(axes, experiments, strict=True):
        rows = t[t["experiment"] == experiment]
        rows = rows.assign(_rank=[sorted_methods(rows["method"]).index(m) for m in rows["method"]])
        rows = rows.sort_values(["_rank", "k"], na_position="last")
        labels = [
            method_label(m) + ("" if math.isnan(k) else f" k={k_label(k)}")
            for m, k in zip(rows["method"], rows["k"], strict=True)
        ]
        y = np.arange(len(rows))[::-1]
        ax.barh(y, rows["fit_seconds"], color=[method_style(m)["color"] for m in rows["method"]])
        ax.set_yticks(y, labels)
        ax.set_xscale("log")
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{experiment} ({', '.join(sorted(set(rows['hardware'])))})", fontsize=7.5)
        ax.set_xlabel("fit wall time (s, log scale)")
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
    fig, axes = _figure(len(metrics), "accuracy vs hidden size h")
    for ax, metric in zip(axes, metrics, strict=True):
        rows = m[m["_metric"] == metric].dropna(subset=[metric])
        for (method, d, k), line in rows.groupby(["method", "d", "k"], dropna=False):
            line = line.groupby("h")[metric].mean()
            style = method_style(str(method))
            width = f" (d={k_label(d)})" if rows["d"].nunique() > 1 else ""
            ax.plot(
                line.index,
                100 * line.to_numpy(),
                color=style["color"],
                marker=style["marker"],
                label=f"{method_label(str(method))} k={k_label(k)}{width}",
            )
        _log2_ticks(ax, rows["h"])
        ax.set_xlabel("hidden size h (log scale)")
        ax.set_ylabel(metric_label(metric))
    _legend(fig, axes)
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
    for name, make in (
        ("dead_latents_vs_k", dead_latents_vs_k),
        ("training_time", training_time),
        ("accuracy_vs_h", accuracy_vs_h),
    ):
        fig = make(results)
        if fig is not None:
            yield name, fig


def save_figure(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write `<name>.png` and `<name>.pdf` atomically; metadata without dates, so the
    same results give byte-identical PDFs (clean diffs when figures are committed)."""
    out_dir = Path(out_dir)
    written = []
    with mpl.rc_context(RC):
        for fmt, meta in (
            ("png", {"Title": name, "Software": "csrbench.report"}),
            ("pdf", {"Title": name, "Creator": "csrbench.report", "CreationDate": None}),
        ):
            path = out_dir / f"{name}.{fmt}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, metadata=meta)
            written.append(path)
    return written
