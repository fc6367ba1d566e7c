"""The significance and tuning tables: every number is the one in the file it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from report_data import TUNE, write_results

from csrbench.report.collect import load_results
from csrbench.report.labels import method_label, metric_label
from csrbench.report.tables import build_tables


def test_significance_table_equals_the_compare_file(built, results_root: Path) -> None:
    tables, _, _ = built
    body = json.loads((results_root / "compare" / "digits-mini.json").read_text())
    frame = pd.read_csv(tables / "digits-mini_significance.csv")
    assert len(frame) == len(body["comparisons"])
    for c in body["comparisons"]:
        b = c["b"]
        config = f"{b['budget']} ({b['bytes_per_doc']:g} B)"
        row = frame[
            (frame["metric"] == metric_label(c["metric"]))
            & (frame["axis"] == c["axis"])
            & (frame["budget"] == c["budget"])
            & (frame["other"] == method_label(b["method"]))
            & (frame["other config"] == config)
        ]
        assert len(row) == 1, c
        row = row.iloc[0]
        a = c["a"]
        assert row["CSR config"] == f"{a['budget']} ({a['bytes_per_doc']:g} B)"
        assert row["CSR (%)"] == pytest.approx(100 * a["mean"], rel=1e-12)
        assert row["other (%)"] == pytest.approx(100 * b["mean"], rel=1e-12)
        for col, key in (("diff", "diff"), ("diff low", "diff_low"), ("diff high", "diff_high")):
            assert row[f"{col} (pts)"] == pytest.approx(100 * c[key], rel=1e-12)
        assert row["p"] == pytest.approx(c["p_value"], rel=1e-12)
        assert row["p (Holm)"] == pytest.approx(c["p_holm"], rel=1e-12)
        assert row["significant"] == ("yes" if c["significant"] else "no")
    # both verdicts appear, so the table is not trivially all-yes or all-no
    assert set(frame["significant"]) == {"yes", "no"}
    md = (tables / "digits-mini_significance.md").read_text()
    loss = next(c for c in body["comparisons"] if c["diff"] < 0 and c["significant"])
    assert f"{100 * loss['diff']:.2f}" in md and f"{loss['p_holm']:.4f}" in md
    assert f"{body['n_resamples']} resamples" in md and "Holm" in md


def test_significance_rows_primary_metric_first_then_k_then_bytes(tmp_path: Path) -> None:
    root = write_results(tmp_path / "results", image_text=False, scaling=False)
    path = root / "compare" / "digits-mini.json"
    body = json.loads(path.read_text())
    extra = [{**c, "metric": "linear_probe_top1"} for c in body["comparisons"]]
    path.write_text(json.dumps({**body, "comparisons": extra + body["comparisons"]}))
    table = next(t for t in build_tables(load_results(root=root)) if "significance" in t.name)
    flat = table.frame.reset_index()
    n = len(body["comparisons"])
    assert (
        list(flat["metric"])
        == [metric_label("knn1_top1")] * n + [metric_label("linear_probe_top1")] * n
    )
    axes = list(flat["axis"][:n])
    assert axes == sorted(axes, key=lambda a: a != "k")  # all equal-k rows first
    assert table.column_digits["p"] == 4


def test_tuning_table_marks_the_chosen_point(built) -> None:
    tables, _, _ = built
    frame = pd.read_csv(tables / "digits-mini_tuning.csv", keep_default_na=False)
    for method, body in TUNE.items():
        mine = frame[frame["method"] == method_label(method)]
        assert list(mine["trial"]) == list(range(len(body["trials"])))
        assert list(mine["score (%)"]) == pytest.approx([100 * t["score"] for t in body["trials"]])
        marked = mine[mine["chosen"] == "yes"]
        assert len(marked) == 1 and set(mine["chosen"]) == {"yes", ""}
        chosen = next(i for i, t in enumerate(body["trials"]) if t["params"] == body["chosen"])
        assert marked["trial"].iloc[0] == chosen
        assert marked["score (%)"].iloc[0] == pytest.approx(100 * body["score"])
        assert set(mine["tuned k"].astype(str)) == {str(body["k"])}
    assert "lr=0.0004, aux_coef=0.03125" in set(frame["params"])
    md = (tables / "digits-mini_tuning.md").read_text()
    assert "validation split" in md and "1-NN top-1 (%) on val" in md
    # csr's chosen trial is not its first: the mark follows the file, not the order
    assert TUNE["csr"]["trials"][0]["params"] != TUNE["csr"]["chosen"]


def test_no_compare_or_tune_files_no_such_tables(tmp_path: Path) -> None:
    root = write_results(tmp_path / "results", image_text=False, scaling=False)
    (root / "compare" / "digits-mini.json").unlink()
    for path in (root / "tune" / "digits-mini").iterdir():
        path.unlink()
    names = [t.name for t in build_tables(load_results(root=root))]
    assert not [n for n in names if n.endswith(("_significance", "_tuning"))]
    assert "digits-mini_knn1" in names
