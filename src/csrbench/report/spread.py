"""Seed spread as the tables and figures show it: the half-width of each mean's 95%
interval, and the sentence that says how many seeds stand behind a table.

Every accuracy is a mean over training seeds; `collect` keeps each metric's interval
(`{metric}:low`, `{metric}:high`, `{metric}:n`). A table shows the mean and, in a
column after it (`SPREAD_SUFFIX`), half the interval's width in points, so "61.0 ± 1.2"
reads as "the seed mean lies in [59.8, 62.2] with 95% confidence". A single seed has
no spread to show: its half-width is blank, never a misleading zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from csrbench.report.collect import spread_column
from csrbench.report.labels import method_label, sorted_methods
from csrbench.stats import CONFIDENCE, seed_interval

SPREAD_SUFFIX = " ±"


def half_width(row: pd.Series, metric: str, scale: float = 100.0) -> float:
    """`scale` x half the width of `metric`'s seed interval in `row`; NaN under two seeds
    (or when the file carried no interval)."""
    n = row.get(spread_column(metric, "n"), math.nan)
    low = row.get(spread_column(metric, "low"), math.nan)
    high = row.get(spread_column(metric, "high"), math.nan)
    if pd.isna(n) or n < 2 or pd.isna(low) or pd.isna(high):
        return math.nan
    return scale * (high - low) / 2


def half_widths(rows: pd.DataFrame, metric: str, scale: float = 100.0) -> list[float]:
    return [half_width(r, metric, scale) for _, r in rows.iterrows()]


def has_spread(rows: pd.DataFrame, metrics: Iterable[str]) -> bool:
    """Whether any row has an interval over two or more seeds for one of `metrics`."""
    return any(
        spread_column(m, "n") in rows and bool((rows[spread_column(m, "n")] >= 2).any())
        for m in metrics
    )


def interval_of(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, half-width, n) of per-seed values, NaN values dropped; half-width NaN for
    fewer than two values (the same Student-t interval as the metric files')."""
    x = np.asarray([v for v in values if not pd.isna(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, 0
    interval = seed_interval(x)
    return interval.mean, (interval.half_width if x.size > 1 else math.nan), int(x.size)


def seed_counts(rows: pd.DataFrame) -> dict[str, int]:
    """method -> seeds behind its rows (the most of any of its budgets; 0 when the files
    do not say)."""
    counts = rows["n_seeds"].groupby(rows["method"].to_numpy()).max()
    return {m: 0 if pd.isna(n) else int(n) for m, n in counts.items()}


def seeds_phrase(counts: dict[str, int]) -> str:
    """ "3 seeds for CSR, MRL; 1 for PCA, Full": methods grouped by their seed count,
    most seeds first; methods whose files record no seeds are named as such."""
    groups: dict[int, list[str]] = {}
    for method in sorted_methods(counts):
        groups.setdefault(counts[method], []).append(method_label(method))
    parts = []
    for n in sorted(groups, reverse=True):
        names = ", ".join(groups[n])
        if n == 0:
            parts.append(f"seeds not recorded for {names}")
        else:
            parts.append(f"{n} seed{'s' if n != 1 else ''} for {names}")
    return "; ".join(parts)


def spread_caption(rows: pd.DataFrame, metrics: Iterable[str]) -> str:
    """The caption's sentence on seeds and intervals."""
    counts = seed_counts(rows)
    if not any(counts.values()):
        return "Single runs (these files record no seeds): no interval is shown."
    text = f"Each value is the mean over training seeds ({seeds_phrase(counts)})."
    if has_spread(rows, metrics):
        text += (
            f" The '{SPREAD_SUFFIX.strip()}' value after it is the half-width of the "
            f"{CONFIDENCE:.0%} Student-t interval of that mean over seeds, in the same units; "
            "blank where one seed was run."
        )
    return text


def insert_spread_columns(
    frame: pd.DataFrame, rows: pd.DataFrame, columns: dict[str, str]
) -> pd.DataFrame:
    """Insert "<column> ±" (percentage points) right after each of `columns` (metric ->
    column of `frame`, whose rows are `rows` in order)."""
    for metric, col in columns.items():
        if col in frame.columns:
            frame.insert(
                frame.columns.get_loc(col) + 1, col + SPREAD_SUFFIX, half_widths(rows, metric)
            )
    return frame
