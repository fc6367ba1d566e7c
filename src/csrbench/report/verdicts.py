"""The sentences that open each experiment's section, written from the comparisons alone.

Nothing here is typed by hand: `results/compare/{experiment}.json` holds every paired
test of CSR against each other method at equal k and at equal bytes; this module sorts
each comparison into a win (significant, CSR ahead), a loss (significant, CSR behind) or
a level result (not significant after the Holm adjustment), and says so with the
difference in points and the adjusted p-value. A reader sees where CSR loses as plainly
as where it wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from csrbench.report.labels import method_label, metric_label, sorted_methods


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _where(axis: str, budget: float) -> str:
    return f"k = {int(budget)}" if axis == "k" else f"{int(budget)} B"


def _item(row: dict[str, Any]) -> str:
    diff = 100 * row["diff"]
    where = _where(row["axis"], row["budget"])
    if row["axis"] == "bytes":  # which configurations met at this budget
        where += f" ({row['a']['budget']} vs {row['b']['budget']})"
    return f"{where}: {diff:+.1f} ({_p(row['p_holm'])})"


def _clause(label: str, rows: list[dict[str, Any]]) -> str | None:
    return f"{label} at {'; '.join(_item(r) for r in rows)}" if rows else None


def pair_sentence(reference: str, other: str, axis: str, rows: list[dict[str, Any]]) -> str:
    """One sentence: reference vs other along one axis, wins, losses and level results."""
    wins = [r for r in rows if r["significant"] and r["diff"] > 0]
    losses = [r for r in rows if r["significant"] and r["diff"] < 0]
    level = [r for r in rows if not r["significant"]]
    ref, oth = method_label(reference), method_label(other)
    parts = [
        _clause("wins", wins),
        _clause("loses", losses),
        _clause("is level (no significant difference)", level),
    ]
    axis_name = "equal k" if axis == "k" else "equal bytes per document"
    return f"At {axis_name}, {ref} vs {oth} " + ", ".join(p for p in parts if p) + "."


def verdicts(compare: dict[str, Any], metrics: Iterable[str] | None = None) -> list[str]:
    """Markdown lines for one experiment: a header sentence, then one bullet per
    (metric, axis, other method), primary metric first."""
    rows = compare.get("comparisons") or []
    if not rows:
        return []
    primary = compare.get("primary_metric")
    names = sorted({r["metric"] for r in rows}, key=lambda m: (m != primary, m))
    if metrics is not None:
        wanted = set(metrics)
        names = [m for m in names if m in wanted]
    ref = compare["reference"]
    lines = [
        f"Paired tests of {method_label(ref)} against every other method on the test "
        f"items, per-item scores averaged over seeds ({compare['test']}; "
        f"{compare['n_resamples']} resamples; p-values {compare['correction']}, "
        f"significant at {compare['alpha']}). Differences are in points of the metric."
    ]
    for metric in names:
        lines.append(f"\n{metric_label(metric)}:")
        for axis in ("k", "bytes"):
            chosen = [r for r in rows if r["metric"] == metric and r["axis"] == axis]
            for other in sorted_methods(r["b"]["method"] for r in chosen):
                mine = sorted(
                    (r for r in chosen if r["b"]["method"] == other), key=lambda r: r["budget"]
                )
                lines.append(f"- {pair_sentence(ref, other, axis, mine)}")
    return lines
