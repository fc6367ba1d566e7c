"""The sentences that open each experiment's section, written from the comparisons alone.

Nothing here is typed by hand: `results/compare/{experiment}.json` holds every paired
test of CSR against each other method at equal k and at equal bytes; this module sorts
each comparison into a win (significant, CSR ahead), a loss (significant, CSR behind) or
a level result (not significant after the Holm adjustment), and says so with the
difference in points and the adjusted p-value. A reader sees where CSR loses as plainly
as where it wins.

`write_verdicts` puts each experiment's lines in `results/tables/{experiment}_verdicts.md`
(an opening line naming the primary metric, the seeds and the test, then one bullet per
method and axis); `files.VerdictText` reads that file back for the Snakemake report's
captions. The text is Markdown that is also valid reStructuredText (the captions' format).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from csrbench.atomic import write_text
from csrbench.report.collect import Results
from csrbench.report.files import VERDICTS_SUFFIX
from csrbench.report.finetune_time import training_time_lines
from csrbench.report.frontier import frontier_lines
from csrbench.report.labels import method_label, metric_label, p_phrase, sorted_methods
from csrbench.report.speed_lines import speed_lines
from csrbench.report.spread import seed_counts, seeds_phrase


def _where(axis: str, budget: float) -> str:
    return f"k = {int(budget)}" if axis == "k" else f"{int(budget)} B"


def _item(row: dict[str, Any]) -> str:
    diff = 100 * row["diff"]
    where = _where(row["axis"], row["budget"])
    if row["axis"] == "bytes":  # which configurations met at this budget
        where += f" ({row['a']['budget']} vs {row['b']['budget']})"
    return f"{where}: {diff:+.1f} ({p_phrase(row['p_holm'])})"


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


def opening(compare: dict[str, Any], seeds: Mapping[str, int] | None = None) -> str:
    """The first line: primary metric, seeds per method, and the test behind every bullet."""
    ref = method_label(compare["reference"])
    primary = compare.get("primary_metric")
    seeds_text = seeds_phrase(dict(seeds)) if seeds else "not recorded"
    return (
        f"Primary metric: {metric_label(primary) if primary else 'none'}. "
        f"Seeds: {seeds_text}. "
        f"Test: paired tests of {ref} against every other method on the test items "
        f"({compare['test']}; {compare['n_resamples']} resamples; p-values "
        f"{compare['correction']}, significant at {compare['alpha']}). "
        f"Differences are {ref} minus the other method, in points of the metric."
    )


def verdicts(
    compare: dict[str, Any],
    metrics: Iterable[str] | None = None,
    seeds: Mapping[str, int] | None = None,
) -> list[str]:
    """Markdown lines for one experiment: the opening line, then per metric (primary
    first) a label and one bullet per (axis, other method). `seeds`: method -> number of
    seeds behind its scores, for the opening line. [] when there is no comparison."""
    rows = compare.get("comparisons") or []
    if not rows:
        return []
    primary = compare.get("primary_metric")
    names = sorted({r["metric"] for r in rows}, key=lambda m: (m != primary, m))
    if metrics is not None:
        wanted = set(metrics)
        names = [m for m in names if m in wanted]
    ref = compare["reference"]
    lines = [opening(compare, seeds)]
    for metric in names:
        lines.append(f"\n{metric_label(metric)}:\n")
        for axis in ("k", "bytes"):
            chosen = [r for r in rows if r["metric"] == metric and r["axis"] == axis]
            for other in sorted_methods(r["b"]["method"] for r in chosen):
                mine = sorted(
                    (r for r in chosen if r["b"]["method"] == other), key=lambda r: r["budget"]
                )
                lines.append(f"- {pair_sentence(ref, other, axis, mine)}")
    return lines


def verdict_text(results: Results, experiment: str) -> str:
    """The text of `{experiment}_verdicts.md`: `verdicts` of the experiment's compare file
    with its methods' seed counts (or one line saying that no comparison was made), then
    the accuracy-per-byte lines of its frontier file, where it has one, and the
    retrieval-time lines of its bench files."""
    compare = results.compare_files.get(experiment)
    rows = results.metrics[results.metrics["experiment"] == experiment]
    lines = verdicts(compare, seeds=seed_counts(rows)) if compare else []
    if not lines:
        reference = method_label((compare or {}).get("reference", "csr"))
        lines = [
            f"No paired comparison for '{experiment}': no compare file, or it lists none "
            f"(no per-item scores, or no {reference} run)."
        ]
    frontier = results.frontier_files.get(experiment)
    if frontier:
        lines += frontier_lines(frontier)
    lines += speed_lines(results, experiment, (compare or {}).get("reference", "csr"))
    lines += training_time_lines(results, experiment)
    return "\n".join(lines) + "\n"


def write_verdicts(results: Results, out_dir: str | Path) -> list[Path]:
    """Write `{experiment}_verdicts.md` under `out_dir` for every experiment with a
    compare or a frontier file; returns the paths written."""
    return [
        write_text(Path(out_dir) / f"{e}{VERDICTS_SUFFIX}", verdict_text(results, e))
        for e in sorted({*results.compare_files, *results.frontier_files})
    ]
