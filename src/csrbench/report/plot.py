"""What every figure shares: the rc context, the panel grid, log axes labelled in plain
numbers, one legend per figure, seed-interval error bars, and `save_figure`.

Error bars are drawn only where a mean stands on two or more seeds; the legend then gets
one entry that says what they are ("mean ± 95% interval over 3 seeds"), so a reader never
has to guess whether a bar is a std, a range or an interval.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path as MarkerPath
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from csrbench.atomic import atomic_path
from csrbench.report.collect import spread_column
from csrbench.report.style import PANEL_SIZE, RC
from csrbench.stats import CONFIDENCE

K_AXIS = "active dimensions k (log scale)"
BAR_STYLE = {"fmt": "none", "elinewidth": 0.9, "capsize": 2.5, "capthick": 0.9}


def styled(make: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Draw a whole figure inside the report's rc settings (line widths, fonts and legend
    frames are read from rcParams when each artist is created, not when it is saved)."""

    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return make(*args, **kwargs)

    return wrapper


def new_figure(n_panels: int, title: str) -> tuple[Figure, list[Axes]]:
    cols = min(n_panels, 2)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes[:n_panels]


def log2_ticks(ax: Axes, values, axis: str = "x") -> None:
    """A log2 axis labelled at the values themselves (8, 16, 32 rather than 2^3 ...)."""
    ticks = sorted({float(v) for v in values if v and not math.isnan(v)})
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    target.set_major_locator(FixedLocator(ticks))
    target.set_minor_locator(NullLocator())
    target.set_ticklabels([f"{t:g}" for t in ticks])


def log_axis(ax: Axes, axis: str = "x") -> None:
    """A log axis labelled 0.2, 0.5, 1 rather than 2x10^-1. When the data spans less than
    two decades the powers of ten alone leave it nearly unlabelled, so minor ticks at 2x
    and 5x each power are labelled too (every minor tick labelled would overlap)."""
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    target.set_major_formatter(plain)
    low, high = ax.dataLim.intervalx if axis == "x" else ax.dataLim.intervaly
    if low > 0 and high / low < 100:
        target.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        target.set_minor_formatter(plain)
    else:
        target.set_minor_formatter(NullFormatter())


def interval_note(seeds: Iterable[int], what: str = "error bars") -> str:
    """ "error bars: mean ± 95% interval over 3 seeds" (or "over 2-3 seeds")."""
    ns = sorted(set(seeds))
    count = str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
    return f"{what}: mean ± {CONFIDENCE:.0%} interval over {count} seeds"


def interval_bars(
    ax: Axes, x: Iterable[float], rows: pd.DataFrame, metric: str, color: str
) -> list[int]:
    """Vertical bars (points: x100) of `metric`'s seed interval at `x`, for the rows whose
    mean stands on two or more seeds; returns the seed counts of the bars drawn."""
    n = rows.get(spread_column(metric, "n"), pd.Series(np.nan, index=rows.index)).to_numpy()
    low = rows.get(spread_column(metric, "low"), pd.Series(np.nan, index=rows.index))
    high = rows.get(spread_column(metric, "high"), pd.Series(np.nan, index=rows.index))
    x = np.asarray(list(x), dtype=np.float64)
    mean = 100 * rows[metric].to_numpy(dtype=np.float64)
    low, high = 100 * low.to_numpy(dtype=np.float64), 100 * high.to_numpy(dtype=np.float64)
    keep = (n >= 2) & np.isfinite(low) & np.isfinite(high)
    if keep.any():
        ax.errorbar(
            x[keep],
            mean[keep],
            yerr=[mean[keep] - low[keep], high[keep] - mean[keep]],
            ecolor=color,
            label="_interval",
            **BAR_STYLE,
        )
    return [int(v) for v in n[keep]]


# an error bar with its caps, as a marker: the legend glyph of the interval note
_BAR_GLYPH = MarkerPath(
    [(-0.45, -1), (0.45, -1), (0, -1), (0, 1), (-0.45, 1), (0.45, 1)],
    [MarkerPath.MOVETO, MarkerPath.LINETO] * 3,
)


def note_entry(ax: Axes, note: str) -> None:
    """An empty line drawn as a grey error bar, which only carries `note` into the legend."""
    ax.add_line(
        Line2D(
            [],
            [],
            marker=_BAR_GLYPH,
            markersize=10,
            markeredgewidth=BAR_STYLE["elinewidth"],
            markeredgecolor="0.35",
            markerfacecolor="none",
            linestyle="none",
            label=note,
        )
    )


def legend(fig: Figure, axes: list[Axes]) -> None:
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


LABEL_FONT = 6.5  # points
# where a point's label may go, in order of preference: (dx, dy) in points from the
# point to the label's lower-left corner, or its lower-right corner when dx < 0
LABEL_SPOTS = [(3, 3), (3, -10), (-3, 3), (-3, -10), (3, 11), (-3, 11), (3, -18), (-3, -18)]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _line_boxes(ax: Axes, scale: float) -> list[tuple[float, float, float, float]]:
    """Small display-space boxes every point or so along each line of the axes (curves,
    reference lines, error-bar caps), so a label is not written across a line."""
    boxes = []
    half = 0.75 * scale
    for line in ax.get_lines():
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if line.get_linestyle() in ("None", "none", "", " "):  # markers only (error caps)
            boxes += [(px - half, py - half, px + half, py + half) for px, py in xy]
            continue
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / (2 * half)) + 1)
            for t in np.linspace(0.0, 1.0, steps):
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                boxes.append((px - half, py - half, px + half, py + half))
    return boxes


def label_points(fig: Figure, ax: Axes, points: list[tuple[float, float, str, str]]) -> None:
    """Write each (x, y, text, colour) point's text beside it, at the first spot of
    LABEL_SPOTS where it covers no label already written, no other point and no drawn
    line (the spot covering least, when none is free). Called once the figure is
    complete: it lays the figure out first, so positions are the final ones (constrained
    layout shrinks the axes to fit the legend)."""
    fig.draw_without_rendering()
    scale = fig.dpi / 72  # display pixels per point
    height = LABEL_FONT * scale
    centres = [tuple(ax.transData.transform((x, y))) for x, y, _, _ in points]
    marker = 3 * scale  # half a marker's width
    dots = [(cx - marker, cy - marker, cx + marker, cy + marker) for cx, cy in centres]
    strokes = _line_boxes(ax, scale)
    placed: list[tuple[float, float, float, float]] = []
    for i, ((x, y, text, color), (cx, cy)) in enumerate(zip(points, centres, strict=True)):
        width = (0.62 * LABEL_FONT * len(text) + 1) * scale  # DejaVu Sans digits ~0.6 em
        others = placed + dots[:i] + dots[i + 1 :] + strokes
        best, best_cost = LABEL_SPOTS[0], math.inf
        for dx, dy in LABEL_SPOTS:
            x0 = cx + dx * scale - (width if dx < 0 else 0)
            box = (x0, cy + dy * scale, x0 + width, cy + dy * scale + height)
            cost = sum(_overlap(box, other) for other in others)
            if cost < best_cost:
                best, best_cost, best_box = (dx, dy), cost, box
            if cost == 0:
                break
        placed.append(best_box)
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=best,
            ha="right" if best[0] < 0 else "left",
            va="bottom",
            fontsize=LABEL_FONT,
            color=color,
        )


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
