"""The accuracy-per-byte frontier in the report: its tables, sentences and figure, from
`results/frontier/{experiment}.json` alone (written by `csrbench.frontier`).

- `{experiment}_frontier`: every (method, k, codec) with its bytes per document, the
  decoding tables' bytes per index, mean +- seed interval, and whether it is on the
  Pareto frontier;
- `{experiment}_frontier_budgets`: per byte budget, the best configuration, the best of
  any other method, the paired test between them, and the reference method's best;
- the verdict lines appended to `{experiment}_verdicts.md` say the same in words;
- `{experiment}_frontier.png`: every point (colour = method, marker = codec) on a log2
  bytes axis with its seed interval, each (method, codec) joined across k, and the
  frontier drawn as a step line, its points numbered and keyed below the axes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from csrbench.report.collect import Results
from csrbench.report.labels import k_label, method_label, method_rank, metric_label, p_phrase
from csrbench.report.plot import BAR_STYLE, interval_note, label_points, new_figure, styled
from csrbench.report.stat_tables import P_DIGITS
from csrbench.report.style import method_style
from csrbench.report.table import Table

REFERENCE = "csr"
CODEC_MARKERS = {"f16": "o", "sq8": "s", "sq4": "^", "bin": "X"}
CODEC_LINES = {"f16": "-", "sq8": "--", "sq4": ":", "bin": "-."}


def config_text(point: dict[str, Any], with_bytes: bool = True) -> str:
    """ "MRL k32 sq4 (16 B)"."""
    k = point.get("k")
    budget = "" if k is None or k != k else f" k{int(k)}"
    text = f"{method_label(point['method'])}{budget} {point['codec']}"
    return f"{text} ({point['bytes_per_doc']:g} B)" if with_bytes else text


def _half(point: dict[str, Any]) -> float:
    spread = point.get("spread") or {}
    low, high = spread.get("low"), spread.get("high")
    if low is None or high is None or (spread.get("n") or 0) < 2:
        return math.nan
    return 100 * (high - low) / 2


def _codec_rank(codec: str) -> tuple[int, str]:
    """Finest first, as CODEC_MARKERS lists them; unknown codecs after, by name."""
    order = list(CODEC_MARKERS)
    return (order.index(codec) if codec in order else len(order), codec)


def _codecs(body: dict[str, Any]) -> list[str]:
    """The file's codecs, finest first (the JSON stores them by name)."""
    return sorted(body["codecs"], key=_codec_rank)


def points_table(experiment: str, body: dict[str, Any]) -> Table:
    metric = metric_label(body["metric"])
    points = sorted(
        body["points"],
        key=lambda p: (
            method_rank(p["method"]),
            p["k"] or 1e9,
            _codec_rank(p["codec"]),
        ),
    )
    index = pd.MultiIndex.from_arrays(
        [
            [method_label(p["method"]) for p in points],
            [k_label(p["k"] if p["k"] is not None else math.nan) for p in points],
            [p["codec"] for p in points],
        ],
        names=["method", "k", "codec"],
    )
    frame = pd.DataFrame(
        {
            "bytes/doc": [int(p["bytes_per_doc"]) for p in points],
            "index bytes": [int(p["index_bytes"]) for p in points],
            metric: [100 * p["mean"] for p in points],
            f"{metric} ±": [_half(p) for p in points],
            "seeds": [len(p["seeds"]) for p in points],
            "Pareto": ["yes" if p["pareto"] else "" for p in points],
        },
        index=index,
    )
    codecs = ", ".join(f"{n}: {body['codecs'][n]}" for n in _codecs(body))
    caption = (
        f"Accuracy per byte of '{experiment}': every method's codes stored at every codec "
        f"({codecs}). 'bytes/doc' is one "
        f"packed row as an index stores it (sparse ids at ceil(log2 h) bits, then the "
        f"values); 'index bytes' the decoding tables stored once. Codecs are calibrated on "
        f"the {body['calibration']['split']} split; the {body['database']['field']} field "
        f"of the {body['database']['split']} split is stored, queries stay float32. "
        f"'Pareto': no configuration scores higher in as few bytes. ± is the 95% interval "
        f"over seeds."
    )
    return Table(f"{experiment}_frontier", f"Accuracy per byte: {experiment}", caption, frame)


def budgets_table(experiment: str, body: dict[str, Any]) -> Table:
    metric = metric_label(body["metric"])
    rows = [r for r in body["budgets"] if r.get("best")]
    ref = [r["per_method"].get(REFERENCE) for r in rows]
    tests = [r.get("test") or {} for r in rows]
    nan = math.nan
    frame = pd.DataFrame(
        {
            "best": [config_text(r["best"]) for r in rows],
            "best (%)": [100 * r["best"]["mean"] for r in rows],
            "best (%) ±": [_half(r["best"]) for r in rows],
            "other method's best": [
                config_text(r["runner_up"]) if r.get("runner_up") else "" for r in rows
            ],
            "other (%)": [
                100 * r["runner_up"]["mean"] if r.get("runner_up") else nan for r in rows
            ],
            "diff (pts)": [100 * t.get("diff", nan) for t in tests],
            "diff low (pts)": [100 * t.get("diff_low", nan) for t in tests],
            "diff high (pts)": [100 * t.get("diff_high", nan) for t in tests],
            "p (Holm)": [t.get("p_holm", nan) for t in tests],
            "significant": [("yes" if t["significant"] else "no") if t else "" for t in tests],
            f"{method_label(REFERENCE)}'s best": [config_text(p) if p else "" for p in ref],
            f"{method_label(REFERENCE)} (%)": [100 * p["mean"] if p else nan for p in ref],
        },
        index=pd.Index([int(r["budget"]) for r in rows], name="budget (B/doc)"),
    )
    caption = (
        f"Best configuration of '{experiment}' storing at most each byte budget per "
        f"document ({metric}), against the best configuration of any other method: paired "
        f"test on the test items ({body['test']}; {body['n_resamples']} resamples; p "
        f"{body['correction']}, significant at {body['alpha']}). 'diff' = best minus "
        f"other, in points. The last columns give {method_label(REFERENCE)}'s best "
        f"configuration under the same budget."
    )
    return Table(
        f"{experiment}_frontier_budgets",
        f"Best method and codec per byte budget: {experiment}",
        caption,
        frame,
        column_digits={"p (Holm)": P_DIGITS},
    )


def frontier_tables(results: Results) -> list[Table]:
    tables = []
    for experiment, body in sorted(results.frontier_files.items()):
        if body.get("points"):
            tables += [points_table(experiment, body), budgets_table(experiment, body)]
    return tables


def _budget_line(row: dict[str, Any]) -> str:
    best, other, test = row["best"], row.get("runner_up"), row.get("test")
    head = f"- At {int(row['budget'])} B: {config_text(best)} {100 * best['mean']:.1f}"
    if other is None or not test:
        line = head + " (no other method fits this budget)"
    else:
        diff = 100 * test["diff"]
        verdict = "ahead of" if test["significant"] else "level with (no significant difference)"
        line = (
            f"{head}, {verdict} {config_text(other)} {100 * other['mean']:.1f} "
            f"({diff:+.1f} points, {p_phrase(test['p_holm'])})"
        )
        if "same_test_as" in row:
            line += f", the same pair as at {int(row['same_test_as'])} B"
    ref = row["per_method"].get(REFERENCE)
    if best["method"] != REFERENCE and ref is not None:
        line += f"; {method_label(REFERENCE)}'s best: {config_text(ref)} {100 * ref['mean']:.1f}"
    return line + "."


def frontier_lines(body: dict[str, Any]) -> list[str]:
    """The verdict lines of one frontier file: what was measured, the frontier, and per
    byte budget the winner and its test (or why no frontier was drawn)."""
    if not body.get("points"):
        return [f"\nNo accuracy-per-byte frontier: {body.get('skipped', 'no points')}."]
    front = [p for p in body["points"] if p["pareto"]]
    lines = [
        f"\nAccuracy per byte ({metric_label(body['metric'])}; codecs "
        f"{', '.join(_codecs(body))}, calibrated on the {body['calibration']['split']} "
        f"split; bytes per document as an index stores them; queries at float32):\n",
        "- Pareto frontier, cheapest first: "
        + ", ".join(f"{config_text(p)} {100 * p['mean']:.1f}" for p in front)
        + ".",
    ]
    methods = sorted({p["method"] for p in front}, key=method_rank)
    lines[-1] += f" Methods on it: {', '.join(method_label(m) for m in methods)}."
    lines += [_budget_line(r) for r in body["budgets"] if r.get("best")]
    return lines


@styled
def frontier_figure(experiment: str, body: dict[str, Any]) -> Figure | None:
    points = body.get("points") or []
    if not points:
        return None
    metric = body["metric"]
    fig, (ax,) = new_figure(1, f"{experiment}: accuracy per byte, every method and codec")
    fig.set_size_inches(7.2, 5.4)
    frame = pd.DataFrame(points)
    frame["k_order"] = frame["k"].fillna(1e9)
    seeds: list[int] = []
    for (method, codec), line in frame.groupby(["method", "codec"], sort=False):
        line = line.sort_values("k_order")
        color = method_style(str(method))["color"]
        ax.plot(
            line["bytes_per_doc"],
            100 * line["mean"],
            color=color,
            linestyle=CODEC_LINES.get(str(codec), "-"),
            linewidth=0.9,
            alpha=0.55,
            marker=CODEC_MARKERS.get(str(codec), "."),
            markersize=4.5,
            label="_nolegend_",
            gid="points",  # one line per (method, codec) through its k
        )
        for p in line.to_dict("records"):
            half = _half(p)
            if not math.isnan(half):
                ax.errorbar(
                    [p["bytes_per_doc"]], [100 * p["mean"]], yerr=[half], ecolor=color, **BAR_STYLE
                )
                seeds.append(len(p["seeds"]))
    front = frame[frame["pareto"]].sort_values("bytes_per_doc")
    ax.step(
        front["bytes_per_doc"],
        100 * front["mean"],
        where="post",
        color="black",
        linewidth=1.4,
        label="Pareto frontier",
    )
    ax.set_xscale("log", base=2)
    # room left of the cheapest point for its number, clear of the y tick labels
    ax.set_xlim(frame["bytes_per_doc"].min() / 2, frame["bytes_per_doc"].max() * 1.5)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.set_xlabel("bytes per document, as stored (log scale)")
    ax.set_ylabel(metric_label(metric))
    handles = [
        Line2D([], [], color=method_style(m)["color"], linewidth=2, label=method_label(m))
        for m in sorted(set(frame["method"]), key=method_rank)
    ]
    handles += [
        Line2D(
            [],
            [],
            color="0.3",
            marker=CODEC_MARKERS.get(c, "."),
            linestyle=CODEC_LINES.get(c, "-"),
            label=c,
        )
        for c in _codecs(body)
        if c in set(frame["codec"])
    ]
    handles.append(Line2D([], [], color="black", linewidth=1.4, label="Pareto frontier"))
    if seeds:
        handles.append(
            Line2D([], [], color="0.35", marker="|", linestyle="none", label=interval_note(seeds))
        )
    fig.legend(handles=handles, loc="outside right center", title="method / codec", fontsize=7.5)
    # frontier points carry a number, keyed below the axes: full names beside the points
    # crowd each other and the other methods' points where the frontier is steep
    records = front.to_dict("records")
    key = [
        Line2D(
            [],
            [],
            color=method_style(p["method"])["color"],
            marker=f"${i}$",
            markersize=7,
            linestyle="none",
            label=f"{config_text(p)}: {100 * p['mean']:.1f}",
        )
        for i, p in enumerate(records, start=1)
    ]
    fig.legend(
        handles=key,
        loc="outside lower center",
        ncol=min(len(key), 3),
        title="on the Pareto frontier (configuration, bytes per document: score)",
        fontsize=7.5,
    )
    label_points(
        fig,
        ax,
        [
            (p["bytes_per_doc"], 100 * p["mean"], str(i), method_style(p["method"])["color"])
            for i, p in enumerate(records, start=1)
        ],
    )
    return fig


def frontier_figures(results: Results) -> Iterator[tuple[str, Figure]]:
    for experiment, body in sorted(results.frontier_files.items()):
        fig = frontier_figure(experiment, body)
        if fig is not None:
            yield f"{experiment}_frontier", fig
