"""The whole report in one call: result files in, tables and figures out."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from csrbench.report.collect import load_results
from csrbench.report.figures import build_figures, save_figure
from csrbench.report.table import write_table
from csrbench.report.tables import build_tables
from csrbench.report.verdicts import write_verdicts


def build_report(
    files: Iterable[str | Path] | None,
    tables_dir: str | Path,
    figures_dir: str | Path,
    root: str | Path = "results",
) -> list[Path]:
    """Read the result files (`files`, or every one under `root` when None), write every
    table and each experiment's verdicts (`{experiment}_verdicts.md`) under `tables_dir`
    and every figure under `figures_dir`; returns the paths written.

    Raises NoResultsError (naming the path and the command to run) when there is no
    metric file. Both directories are created even when a kind of output is empty, so the
    workflow's directory outputs always exist after a successful job.
    """
    results = load_results(files, root=root)
    tables_dir, figures_dir = Path(tables_dir), Path(figures_dir)
    tables_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in build_tables(results):
        written += write_table(table, tables_dir)
    written += write_verdicts(results, tables_dir)
    for name, fig in build_figures(results):
        written += save_figure(fig, figures_dir, name)
    return written
