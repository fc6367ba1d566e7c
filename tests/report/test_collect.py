"""Reading result files, and the error when there are none."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from report_data import DIGITS, FITS, TUNE, write_results

from csrbench.report.build import build_report
from csrbench.report.collect import load_results, spread_column
from csrbench.report.files import NoResultsError, VerdictText, classify, result_files
from csrbench.stats import seed_interval


def test_classify_by_path_shape() -> None:
    assert classify("results/metrics/digits/csr/k8.json") == "metrics"
    assert classify("/x/results/bench/digits/full/full.json") == "bench"
    assert classify("results/scaling/digits/csr/k8.json") == "scaling"
    assert classify("results/models/digits/csr/k8/seed2/summary.json") == "training"
    assert classify("results/models/digits/csr/k8/summary.json") == "training"  # old layout
    assert classify("results/compare/digits.json") == "compare"
    assert classify("results/tune/digits/csr.json") == "tune"
    assert classify("results/bench/retrieval_speed_h100.json") is None
    assert classify("results/models/digits/csr/k8/config.json") is None
    # per-seed metric files are the aggregate's inputs, not results of their own
    assert classify("results/metrics/digits/csr/k8/seed0.json") is None
    assert classify("results/metrics/digits/csr/k8/seed0.items.npz") is None


def test_frames_from_files(results_root: Path) -> None:
    r = load_results(root=results_root)
    assert r.experiments() == [
        "coco-clip",
        "code-mini",
        "digits-mini",
        "digits-wide",
        "imagenet-rn50",
    ]
    row = r.metrics.set_index(["experiment", "method", "budget"]).loc[("digits-mini", "csr", "k8")]
    assert (row["knn1_top1"], row["k"], row["bytes_per_doc"]) == (pytest.approx(0.61), 8, 32)
    assert len(r.bench) == 10 and set(r.bench["hardware"]) == {"Test GPU 80GB"}
    assert len(r.scaling) == 6 and r.scaling["floor_ms"].notna().sum() == 3
    assert r.scaling["peak_rss_mb"].isna().all()  # optional key, absent: NaN, no error
    fits = sum(len(seconds) for _, seconds, _, _ in FITS.values())
    dead = sum(len(d) for _, _, d, _ in FITS.values() if d is not None)
    assert len(r.training) == fits and r.training["dead_frac_end"].notna().sum() == dead
    # one row per fit and seed; the old layout (no seed level) has no seed
    seeds = r.training.groupby(["experiment", "method", "budget"])["seed"]
    for (exp, m, b), (expected, *_) in FITS.items():
        got = sorted(seeds.get_group((exp, m, b)).dropna().astype(int))
        assert got == (expected or [])


def test_metric_rows_carry_each_metric_spread(results_root: Path) -> None:
    r = load_results(root=results_root)
    assert not [c for c in r.metric_names if ":" in c or c == "n_seeds"]
    rows = r.metrics.set_index(["experiment", "method", "budget"])
    for (method, k), (seeds, knn, probe, _, _) in DIGITS.items():
        row = rows.loc[("digits-mini", method, "full" if k is None else f"k{k}")]
        assert row["n_seeds"] == len(seeds)
        for metric, values in (("knn1_top1", knn), ("linear_probe_top1", probe)):
            expected = seed_interval(values)
            assert row[metric] == pytest.approx(expected.mean)
            assert row[spread_column(metric, "low")] == pytest.approx(expected.low)
            assert row[spread_column(metric, "high")] == pytest.approx(expected.high)
            assert row[spread_column(metric, "n")] == len(values)
            assert row[spread_column(metric, "std")] == pytest.approx(expected.std, nan_ok=True)
    # an older single-run file: no seeds and no spread -> NaN, not an error
    old = rows.loc[("imagenet-rn50", "csr", "k8")]
    assert math.isnan(old["n_seeds"]) and math.isnan(old[spread_column("knn1_top1", "low")])
    with pytest.raises(ValueError, match="unknown spread statistic"):
        spread_column("knn1_top1", "mean")


def test_spread_from_per_seed_values_when_the_file_has_none(tmp_path: Path) -> None:
    path = tmp_path / "results" / "metrics" / "e" / "csr" / "k8.json"
    path.parent.mkdir(parents=True)
    values = [0.5, 0.6, 0.7, 0.65]
    body = {"k": 8, "seeds": [0, 1, 2, 3], "metrics": {"ndcg@10": float(np.mean(values))}}
    path.write_text(json.dumps({**body, "per_seed": {"ndcg@10": values}}))
    row = load_results(root=tmp_path / "results").metrics.iloc[0]
    assert row["ndcg@10:high"] == pytest.approx(seed_interval(values).high)
    assert row["n_seeds"] == 4


def test_per_seed_metric_files_are_never_read(tmp_path: Path) -> None:
    root = write_results(tmp_path / "results", image_text=False, scaling=False)
    per_seed = sorted((root / "metrics").glob("*/*/*/seed*.json"))
    assert len(per_seed) == sum(len(seeds) for seeds, *_ in DIGITS.values()) + 4  # + code-mini
    listed = result_files(root)
    assert not [f for f in listed if "/seed" in f and "/models/" not in f]
    # a broken per-seed file cannot break the report: it is not opened
    for path in per_seed:
        path.write_text("{ not json")
    r = load_results(root=root)
    aggregates = list((root / "metrics").glob("*/*/*.json"))
    assert len(r.metrics) == len(aggregates)
    build_report(None, tmp_path / "tables", tmp_path / "figures", root=root)


def test_comparison_and_tuning_frames(results_root: Path) -> None:
    r = load_results(root=results_root)
    body = json.loads((results_root / "compare" / "digits-mini.json").read_text())
    assert r.compare_files == {"digits-mini": body}
    assert len(r.compare) == len(body["comparisons"])
    first, row = body["comparisons"][0], r.compare.iloc[0]
    assert (row["a_method"], row["b_method"], row["axis"]) == (
        first["a"]["method"],
        first["b"]["method"],
        first["axis"],
    )
    assert (row["diff"], row["diff_low"], row["p_holm"]) == (
        first["diff"],
        first["diff_low"],
        first["p_holm"],
    )
    assert len(r.tuning) == sum(len(t["trials"]) for t in TUNE.values())
    chosen = r.tuning[r.tuning["chosen"]].set_index("method")
    assert set(chosen.index) == set(TUNE)  # exactly one chosen trial per method
    assert chosen.loc["csr", "trial"] == 1 and chosen.loc["csr", "score"] == 0.62
    assert chosen.loc["csr", "params"] == "lr=0.0004, aux_coef=0.03125"


def test_verdict_text_follows_table_and_figure_names(tmp_path: Path) -> None:
    (tmp_path / "digits_verdicts.md").write_text("Primary metric: x.\n")
    (tmp_path / "digits-wide_verdicts.md").write_text("Wide.\n")
    v = VerdictText(str(tmp_path))
    assert v.for_name("digits_knn1") == "Primary metric: x."
    assert v.for_name("digits-wide_accuracy_vs_k") == "Wide."
    assert v.for_name("digits-widest_knn1") == ""  # no such experiment's verdicts
    assert v.for_name("training") == "" and v.for_name("dead_latents_vs_k") == ""
    assert repr(v) == f"VerdictText(tables_dir='{tmp_path}')"  # constant: no rerun
    # a job script's preamble unpickles it without importing csrbench (a plain str)
    assert pickle.loads(pickle.dumps(v)) == str(tmp_path)
    assert b"csrbench" not in pickle.dumps(v)


@pytest.mark.parametrize("make", [False, True])
def test_no_results_names_path_and_command(tmp_path: Path, make: bool) -> None:
    root = tmp_path / "results"
    if make:
        (root / "metrics").mkdir(parents=True)
    for call in (
        lambda: result_files(root),
        lambda: load_results(root=root),
        lambda: build_report(None, tmp_path / "t", tmp_path / "f", root=root),
    ):
        with pytest.raises(NoResultsError) as err:
            call()
        assert str(root / "metrics") in str(err.value)
        assert "snakemake --cores all" in str(err.value)
    assert not (tmp_path / "t").exists() and not (tmp_path / "f").exists()
