"""Tables: every cell equals the number in the file it came from (in percent)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from report_data import (
    BENCH,
    COCO,
    DIGITS,
    FITS,
    IMAGENET,
    TEXT,
    TEXT_OFFSETS,
    write_results,
)

from csrbench.report.collect import load_results
from csrbench.report.tables import build_tables
from csrbench.stats import seed_interval

LABELS = {
    "csr": "CSR",
    "mrl": "MRL head",
    "mrl-ft": "MRL fine-tune",
    "pca": "PCA",
    "full": "Full",
}


def half_width(values: list[float]) -> float:
    """The table's '±' cell of per-seed values: half the 95% interval, in points; blank
    (NaN) for one seed."""
    return 100 * seed_interval(values).half_width if len(values) > 1 else math.nan


def read(tables: Path, name: str, index: list[str] | str) -> pd.DataFrame:
    return pd.read_csv(tables / f"{name}.csv", index_col=index, dtype={"k": str})


def test_every_table_in_three_formats(built) -> None:
    tables, _, written = built
    names = {p.stem for p in tables.iterdir()}
    assert names == {
        "digits-mini_knn1",
        "digits-mini_linear_probe",
        "digits-wide_knn1",
        "digits-wide_linear_probe",
        "imagenet-rn50_knn1",
        "coco-clip_image_text",
        "code-mini_text",
        "digits-mini_significance",
        "digits-mini_tuning",
        "digits-mini_verdicts",
        "training",
    }
    for name in names - {"digits-mini_verdicts"}:
        for ext in ("csv", "md", "tex"):
            assert (tables / f"{name}.{ext}").stat().st_size > 0
    assert not [p for p in tables.iterdir() if p.name.endswith(".tmp")]
    assert set(written) >= {tables / f"{n}.csv" for n in names - {"digits-mini_verdicts"}}
    assert tables / "digits-mini_verdicts.md" in written
    assert [p.name for p in tables.glob("digits-mini_verdicts.*")] == ["digits-mini_verdicts.md"]


@pytest.mark.parametrize(("name", "col"), [("knn1", 1), ("linear_probe", 2)])
def test_budget_table_cells(built, name: str, col: int) -> None:
    frame = read(built[0], f"digits-mini_{name}", "k")
    assert list(frame.index) == ["8", "16", "full (d=64)"]
    methods = ["CSR", "MRL head", "PCA", "Full"]
    assert list(frame.columns) == [c for m in methods for c in (m, f"{m} ±")]
    for (method, k), entry in DIGITS.items():
        label, per_seed = LABELS[method], entry[col]
        row = "full (d=64)" if k is None else str(k)
        assert frame.loc[row, label] == pytest.approx(100 * seed_interval(per_seed).mean)
        # the interval is the one of the per-seed values; blank for a single seed
        assert frame.loc[row, f"{label} ±"] == pytest.approx(half_width(per_seed), nan_ok=True)
    assert frame.loc["8", "CSR ±"] > 0 and pd.isna(frame.loc["16", "PCA ±"])
    assert pd.isna(frame.loc["8", "Full"]) and pd.isna(frame.loc["full (d=64)", "CSR"])
    md = (built[0] / f"digits-mini_{name}.md").read_text()
    assert "not one of the paper's experiments" in md
    assert "3 seeds for CSR, MRL head; 1 seed for PCA, Full" in md
    assert "half-width of the 95% Student-t interval" in md
    csr16 = DIGITS[("csr", 16)][col]
    mean, half = 100 * seed_interval(csr16).mean, half_width(csr16)
    assert f"| {mean:.2f} ± {half:.2f} |" in md  # 65.25 ± 1.86, two decimals, one cell
    pca = 100 * DIGITS[("pca", 16)][col][0]
    assert f"| {pca:.2f} |" in md and f"{pca:.2f} ±" not in md  # no interval for one seed
    assert f"{mean:.2f} ± {half:.2f}" in (built[0] / f"digits-mini_{name}.tex").read_text()


def test_old_files_without_seeds_have_no_interval_columns(built) -> None:
    frame = read(built[0], "digits-wide_knn1", "k")
    assert list(frame.columns) == ["CSR", "Full"]
    md = (built[0] / "digits-wide_knn1.md").read_text()
    assert "Single runs (these files record no seeds): no interval is shown." in md


def test_paper_experiment_has_paper_columns(built) -> None:
    frame = read(built[0], "imagenet-rn50_knn1", "k")
    # the paper's rows (8, 16, 32, 64) join ours; MRL-E and SAE appear as paper-only columns.
    # The paper's MRL trains the backbone: its column follows our fine-tune (mrl-ft), not
    # the frozen head (mrl), which has no paper column; its MRL-E sits at our mrl-e's place
    assert list(frame.index) == ["8", "16", "32", "64", "full (d=2048)"]
    assert list(frame.columns) == [
        "CSR",
        "CSR (paper)",
        "SAE (paper)",
        "MRL head",
        "MRL-E (paper)",
        "MRL fine-tune",
        "MRL (paper)",
        "Full",
    ]
    assert frame.loc["8", "CSR"] == 100 * IMAGENET[("csr", 8)]
    assert frame.loc["8", "MRL head"] == 100 * IMAGENET[("mrl", 8)]
    assert frame.loc["8", "MRL fine-tune"] == 100 * IMAGENET[("mrl-ft", 8)]
    assert frame.loc["full (d=2048)", "Full"] == 100 * IMAGENET[("full", None)]
    # Table 4 of the paper, as printed
    assert frame.loc["8", "CSR (paper)"] == 67.78
    assert frame.loc["64", "MRL-E (paper)"] == 69.61
    assert frame.loc["8", "MRL (paper)"] == 62.19
    assert frame.loc["full (d=2048)", "MRL (paper)"] == 70.97
    assert frame.loc["full (d=2048)", "CSR (paper)"] == 71.20
    assert "Table 4" in (built[0] / "imagenet-rn50_knn1.md").read_text()
    tex = (built[0] / "imagenet-rn50_knn1.tex").read_text()
    assert "\\caption{1-NN top-1 (\\%)" in tex and "\\label{tab:imagenet-rn50-knn1}" in tex


def test_text_table_cells_and_times(built) -> None:
    frame = read(built[0], "code-mini_text", ["method", "k"])
    cols = {
        "classification_accuracy": "Classification acc.",
        "v_measure": "Clustering V-measure",
        "hungarian_accuracy": "Clustering acc. (Hungarian)",
        "ndcg@10": "nDCG@10",
        "recall@10": "Recall@10",
        "mrr@10": "MRR@10",
    }
    for (method, k), scores in TEXT.items():
        row = (LABELS[method], "full" if k is None else str(k))
        offsets = TEXT_OFFSETS if method == "csr" else [0.0]
        for metric, col in cols.items():
            per_seed = [scores[metric] + o for o in offsets]
            assert frame.loc[row, col] == pytest.approx(100 * scores[metric])
            assert frame.loc[row, f"{col} ±"] == pytest.approx(half_width(per_seed), nan_ok=True)
    assert list(frame.columns[:2]) == ["Classification acc.", "Classification acc. ±"]
    csr_ms = min(BENCH[("code-mini", "csr", "k8")].values())
    full_ms = min(BENCH[("code-mini", "full", "full")].values())
    assert frame.loc[("CSR", "8"), "us/query"] == pytest.approx(1e3 * csr_ms)
    assert frame.loc[("CSR", "8"), "time vs full"] == pytest.approx(csr_ms / full_ms, rel=1e-12)
    assert frame.loc[("Full", "full"), "time vs full"] == 1.0
    assert frame.loc[("CSR", "8"), "db docs"] == 50_000
    text = (built[0] / "code-mini_text.md").read_text()
    assert "not one of the paper's experiments" in text
    assert "|     50000 |" in text  # a count, printed without decimals


def test_times_on_a_small_database_are_left_blank_and_the_caption_says_why(tmp_path) -> None:
    from report_data import write_results

    from csrbench.report.build import build_report

    root = write_results(tmp_path / "results", image_text=False, scaling=False, database_n=1222)
    build_report(None, tmp_path / "tables", tmp_path / "figures", root=root)
    frame = read(tmp_path / "tables", "code-mini_text", ["method", "k"])
    assert frame["us/query"].isna().all() and frame["time vs full"].isna().all()
    assert (frame["db docs"] == 1222).all()
    assert (
        "fewer than 10,000 documents are left blank"
        in (tmp_path / "tables" / "code-mini_text.md").read_text()
    )


def test_image_text_table_with_paper_columns(built) -> None:
    frame = read(built[0], "coco-clip_image_text", ["method", "k"])
    assert list(frame.columns) == [
        "I2T R@1",
        "I2T R@5",
        "I2T R@5 (paper)",
        "I2T R@10",
        "T2I R@1",
        "T2I R@5",
        "T2I R@5 (paper)",
        "T2I R@10",
    ]
    for (method, k), scores in COCO.items():
        row = (LABELS[method], str(k) if k else "full")
        for d in ("i2t", "t2i"):
            for r in (1, 5, 10):
                assert frame.loc[row, f"{d.upper()} R@{r}"] == 100 * scores[f"{d}_recall@{r}"]
    assert frame.loc[("CSR", "256"), "I2T R@5 (paper)"] == 71.41
    assert frame.loc[("Full", "full"), "T2I R@5 (paper)"] == 86.47
    # the paper's MRL (a fine-tuned backbone) is beside our mrl-ft, not the frozen head
    assert frame.loc[("MRL fine-tune", "256"), "I2T R@5 (paper)"] == 67.12
    assert frame.loc[("MRL fine-tune", "256"), "T2I R@5 (paper)"] == 77.53
    assert frame.loc[("MRL head", "256"), ["I2T R@5 (paper)", "T2I R@5 (paper)"]].isna().all()
    assert "Table 2" in (built[0] / "coco-clip_image_text.md").read_text()


def test_no_image_text_table_without_image_text_metrics(tmp_path: Path) -> None:
    root = write_results(tmp_path / "results", image_text=False)
    names = [t.name for t in build_tables(load_results(root=root))]
    assert "coco-clip_image_text" not in names and not [n for n in names if "image_text" in n]
    assert "code-mini_text" in names


def test_training_table(built) -> None:
    frame = read(built[0], "training", ["experiment", "method", "k"])
    for (exp, method, budget), (_, seconds, dead, _) in FITS.items():
        row = (exp, LABELS[method], "full" if budget == "all" else budget[1:])
        assert frame.loc[row, "seeds"] == len(seconds)
        assert frame.loc[row, "fit s"] == pytest.approx(sum(seconds) / len(seconds))
        assert frame.loc[row, "fit s ±"] == pytest.approx(half_width(seconds) / 100, nan_ok=True)
        if dead is None:
            assert pd.isna(frame.loc[row, "dead latents (%)"])
        else:
            assert frame.loc[row, "dead latents (%)"] == pytest.approx(100 * sum(dead) / len(dead))
            assert frame.loc[row, "dead latents (%) ±"] == pytest.approx(
                half_width(dead), nan_ok=True
            )
    assert frame.loc[("digits-mini", "CSR", "8"), "fit s"] == 12.5
    assert frame.loc[("digits-wide", "CSR", "8"), "steps"] == 100
    assert "averaged over its training seeds" in (built[0] / "training.md").read_text()


def test_fit_tables_and_figure_leave_out_methods_whose_training_is_not_their_fit() -> None:
    """mrl-ft's "fit" reads prefixes of a fine-tuned backbone in milliseconds; shown as a
    training time it would say the paper's MRL trains 10,000x faster than CSR."""
    from csrbench.report.collect import TRAINING_KEYS, Results
    from csrbench.report.tables import training_table
    from csrbench.report.training_figures import training_time

    rows = [
        ("e", method, budget, seed, k, 384, h, seconds, None, 10, 100.0, "cpu", "AMD EPYC")
        for method, budget, k, h, seconds in (
            ("csr", "k8", 8, 1536, 12.0),
            ("mrl-ft", "all", None, None, 0.002),
        )
        for seed in (0, 1)
    ]
    results = Results(
        metrics=pd.DataFrame({"experiment": ["e"]}),
        training=pd.DataFrame(rows, columns=TRAINING_KEYS),
    )
    assert set(results.fits()["method"]) == {"csr"}
    table = training_table(results)
    assert table is not None
    assert set(table.frame.index.get_level_values("method")) == {"CSR"}
    assert "training-time tables" in table.caption
    fig = training_time(results)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels and all("MRL" not in text for text in labels), labels
