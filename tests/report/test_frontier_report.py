"""The frontier's tables, sentences and figure say what its file holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_data import metric

from csrbench.frontier import Point, frontier_body
from csrbench.report.build import build_report
from csrbench.report.collect import load_results
from csrbench.report.frontier import frontier_figure

ROLES = {
    "queries": {"split": "test", "field": "query", "precision": "float32"},
    "database": {"split": "test", "field": "doc"},
    "calibration": {"split": "train", "field": "doc"},
}


def point(
    method: str, k: int | None, codec: str, nbytes: int, shift: float, seeds: int = 3
) -> Point:
    rng = np.random.default_rng(nbytes)  # one seed per point, fixed across processes
    base = np.random.default_rng(0).random(300)
    items = np.clip(base + shift + 0.01 * rng.normal(size=(seeds, 300)), 0, 1)
    budget = "full" if k is None else f"k{k}"
    return Point(
        method,
        budget,
        k,
        codec,
        method == "csr",
        nbytes,
        64,
        tuple(range(seeds)),
        {"ndcg@10": items},
    )


def level_with(other: Point, method: str, k: int, codec: str, nbytes: int) -> Point:
    items = {m: np.roll(v, 1, axis=1) for m, v in other.items.items()}
    return Point(method, f"k{k}", k, codec, method == "csr", nbytes, 64, other.seeds, items)


POINTS = [
    point("csr", 8, "sq4", 15, 0.0),
    level_with(point("csr", 8, "sq4", 15, 0.0), "csr", 8, "f16", 27),
    point("csr", 16, "sq4", 30, 0.25),  # best from 30 B: clearly ahead of the MRL head
    point("mrl", 8, "sq4", 4, -0.2),
    point("mrl", 16, "sq4", 8, -0.1),
    # level with CSR k16 at 128 B: the same scores on other items (equal mean, p = 1),
    # so not on the frontier (it needs a strictly higher mean)
    level_with(point("csr", 16, "sq4", 30, 0.25), "mrl", 64, "f16", 128),
    point("full", None, "bin", 48, -0.05, seeds=1),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("frontier") / "results"
    metric(root, "code", "csr", 8, {"ndcg@10": 0.4})  # a report needs one metric file
    body = frontier_body("code", POINTS, ["f16", "sq4", "bin"], ROLES, n_resamples=500)
    (root / "frontier").mkdir(parents=True)
    (root / "frontier" / "code.json").write_text(json.dumps(body))
    build_report(None, root.parent / "tables", root.parent / "figures", root=root)
    return root.parent


def test_points_table_lists_every_point_and_marks_the_frontier(report) -> None:
    out = report
    table = pd.read_csv(out / "tables/code_frontier.csv")
    assert len(table) == len(POINTS)
    front = table[table["Pareto"] == "yes"]
    assert sorted(front["bytes/doc"]) == [4, 8, 15, 30]  # mrl k8, mrl k16, CSR k8 sq4, CSR k16
    assert table["index bytes"].tolist() == [64] * len(POINTS)
    assert set(table["codec"]) == {"f16", "sq4", "bin"}


def test_budget_table_and_sentences_say_who_wins_and_whether_it_is_significant(report) -> None:
    out = report
    budgets = pd.read_csv(out / "tables/code_frontier_budgets.csv", index_col=0)
    assert budgets.loc[16, "best"] == "CSR k8 sq4 (15 B)"
    assert (
        budgets.loc[32, "best"] == "CSR k16 sq4 (30 B)" and budgets.loc[32, "significant"] == "yes"
    )
    assert budgets.loc[32, "other method's best"] == "MRL head k16 sq4 (8 B)"
    assert budgets.loc[128, "significant"] == "no"
    csr16, mrl16 = POINTS[2].items["ndcg@10"], POINTS[4].items["ndcg@10"]
    assert budgets.loc[32, "diff (pts)"] == pytest.approx(100 * (csr16.mean() - mrl16.mean()))
    text = (out / "tables/code_verdicts.md").read_text()
    assert "Accuracy per byte (nDCG@10 (%); codecs f16, sq4, bin" in text
    assert "- At 32 B: CSR k16 sq4 (30 B) " in text and ", ahead of MRL head k16 sq4 (8 B)" in text
    assert "level with (no significant difference)" in text  # the 128 B tie
    assert "Methods on it: CSR, MRL head." in text


def test_figure_draws_every_point_the_frontier_and_a_legend_entry_each(report) -> None:
    out = report
    results = load_results(root=out / "results")
    fig = frontier_figure("code", results.frontier_files["code"])
    (ax,) = fig.axes
    legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    for entry in ("CSR", "MRL head", "Full", "f16", "sq4", "bin", "Pareto frontier"):
        assert entry in legend
    step = next(line for line in ax.get_lines() if line.get_label() == "Pareto frontier")
    assert sorted(set(step.get_xdata())) == [4, 8, 15, 30]
    drawn = {
        (x, round(y, 6))
        for line in ax.get_lines()
        if line.get_gid() == "points"
        for x, y in line.get_xydata()
    }
    assert len(drawn) == len(POINTS)
    # the frontier's points carry numbers, cheapest first, keyed below the axes
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3", "4"]
    assert [t.xy[0] for t in ax.texts] == [4, 8, 15, 30]
    key = [t.get_text() for t in fig.legends[1].get_texts()]
    assert [entry.split(":")[0] for entry in key] == [
        "MRL head k8 sq4 (4 B)",
        "MRL head k16 sq4 (8 B)",
        "CSR k8 sq4 (15 B)",
        "CSR k16 sq4 (30 B)",
    ]
    assert (out / "figures/code_frontier.png").stat().st_size > 10_000
