"""Figures of the fits themselves, from the training summaries (one per fit and seed):
the dead-latent fraction at the end of training, and the wall time of every fit.

Each point or bar is the mean over a fit's seeds; the dead-latent lines carry the seed
interval as error bars, the time bars show every seed as a dot (a log axis and three
seeds make an interval less telling than the seeds themselves).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from csrbench.report.collect import Results
from csrbench.report.labels import k_label, method_label, sorted_methods
from csrbench.report.plot import (
    BAR_STYLE,
    K_AXIS,
    interval_note,
    legend,
    log2_ticks,
    new_figure,
    note_entry,
    styled,
)
from csrbench.report.spread import interval_of
from csrbench.report.style import method_style

FIT_KEYS = ["experiment", "method", "budget"]


def per_fit(training: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per (experiment, method, budget): k, and the mean, interval half-width and
    seed count of `column` over that fit's seeds (NaN values dropped)."""
    records = []
    for (experiment, method, budget), fits in training.groupby(FIT_KEYS, sort=False):
        mean, half, n = interval_of(fits[column])
        records.append(
            {
                "experiment": experiment,
                "method": method,
                "budget": budget,
                "k": fits["k"].iloc[0],
                "mean": mean,
                "half": half,
                "n": n,
                "values": [v for v in fits[column] if not pd.isna(v)],
                "hardware": ", ".join(sorted(set(fits["hardware"]))),
            }
        )
    return pd.DataFrame(records)


@styled
def dead_latents_vs_k(results: Results) -> Figure | None:
    """Fraction of latents dead at the end of training vs k, per sparse method, a panel
    per experiment (dead = not active for the trainer's dead-latent threshold of steps);
    the mean over seeds, with its interval where there are two or more."""
    t = results.training.dropna(subset=["dead_frac_end", "k"])
    if t.empty:
        return None
    fits = per_fit(t, "dead_frac_end")
    experiments = sorted(set(fits["experiment"]))
    fig, axes = new_figure(len(experiments), "dead latents at the end of training")
    seeds: list[int] = []
    for ax, experiment in zip(axes, experiments, strict=True):
        rows = fits[fits["experiment"] == experiment]
        for method in sorted_methods(rows["method"]):
            pts = rows[rows["method"] == method].sort_values("k")
            style = method_style(method)
            ax.plot(pts["k"], 100 * pts["mean"], label=method_label(method), **style)
            bars = pts[pts["n"] >= 2]
            if len(bars):
                ax.errorbar(
                    bars["k"],
                    100 * bars["mean"],
                    yerr=100 * bars["half"],
                    ecolor=style["color"],
                    label="_interval",
                    **BAR_STYLE,
                )
                seeds += list(bars["n"])
        log2_ticks(ax, rows["k"])
        ax.set_ylim(bottom=0)
        ax.set_title(experiment)
        ax.set_xlabel(K_AXIS)
        ax.set_ylabel("dead latents (%)")
    if seeds:
        note_entry(axes[-1], interval_note(seeds))
    legend(fig, axes)
    return fig


@styled
def training_time(results: Results) -> Figure | None:
    """Wall time of every fit, a panel per experiment (paper Fig. 1c); log axis because a
    PCA or truncation fit takes milliseconds and a CSR fit minutes. A bar is the mean over
    the fit's seeds, a dot each seed."""
    t = results.fits().dropna(subset=["fit_seconds"])
    t = t[t["fit_seconds"] > 0]
    if t.empty:
        return None
    fits = per_fit(t, "fit_seconds")
    experiments = sorted(set(fits["experiment"]))
    fig, axes = new_figure(len(experiments), "training time per fit")
    several = bool((fits["n"] >= 2).any())
    for ax, experiment in zip(axes, experiments, strict=True):
        rows = fits[fits["experiment"] == experiment]
        rows = rows.assign(_rank=[sorted_methods(rows["method"]).index(m) for m in rows["method"]])
        rows = rows.sort_values(["_rank", "k"], na_position="last")
        labels = [
            method_label(m)
            + ("" if math.isnan(k) else f" k={k_label(k)}")
            + (f" ({n} seeds)" if n > 1 else "")
            for m, k, n in zip(rows["method"], rows["k"], rows["n"], strict=True)
        ]
        y = np.arange(len(rows))[::-1]
        colors = [method_style(m)["color"] for m in rows["method"]]
        ax.barh(y, rows["mean"], color=colors, label="_bars")
        xs = [v for values in rows["values"] for v in values]
        if several:
            ys = [yi for yi, values in zip(y, rows["values"], strict=True) for _ in values]
            ax.scatter(
                xs, ys, s=9, color="black", zorder=3, label="one seed (bar: mean over seeds)"
            )
        ax.set_yticks(y, labels)
        ax.set_xscale("log")
        # at least a decade on the axis, so it carries a labelled major tick; minor ticks
        # unlabelled (on a narrow span matplotlib labels them all, and they overlap)
        lo, hi = min([*xs, *rows["mean"]]), max([*xs, *rows["mean"]])
        ax.set_xlim(min(lo / 1.5, hi / 10), hi * 1.5)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(axis="y", visible=False)
        ax.set_title(f"{experiment} ({', '.join(sorted(set(rows['hardware'])))})", fontsize=7.5)
        ax.set_xlabel("fit wall time (s, log scale)")
    if several:
        legend(fig, axes)
    return fig
