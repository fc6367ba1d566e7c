"""Fixtures of the report tests: the hand-written results tree, and the report built once."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_data import write_results


@pytest.fixture(scope="module")
def results_root(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("report") / "results")


@pytest.fixture(scope="module")
def built(results_root: Path) -> tuple[Path, Path, list[Path]]:
    """The whole report built once for the module: (tables dir, figures dir, files)."""
    from csrbench.report.build import build_report

    out = results_root.parent
    written = build_report(None, out / "tables", out / "figures", root=results_root)
    return out / "tables", out / "figures", written
