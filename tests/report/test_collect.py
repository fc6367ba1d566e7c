"""Reading result files, and the error when there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from csrbench.report.build import build_report
from csrbench.report.collect import load_results
from csrbench.report.files import NoResultsError, classify, result_files


def test_classify_by_path_shape() -> None:
    assert classify("results/metrics/digits/csr/k8.json") == "metrics"
    assert classify("/x/results/bench/digits/full/full.json") == "bench"
    assert classify("results/scaling/digits/csr/k8.json") == "scaling"
    assert classify("results/models/digits/csr/k8/summary.json") == "training"
    assert classify("results/bench/retrieval_speed_h100.json") is None
    assert classify("results/models/digits/csr/k8/config.json") is None


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
    assert (row["knn1_top1"], row["k"], row["bytes_per_doc"]) == (0.61, 8, 32)
    assert len(r.bench) == 10 and set(r.bench["hardware"]) == {"Test GPU 80GB"}
    assert len(r.scaling) == 6 and r.scaling["floor_ms"].notna().sum() == 3
    assert r.scaling["peak_rss_mb"].isna().all()  # optional key, absent: NaN, no error
    assert len(r.training) == 5 and r.training["dead_frac_end"].notna().sum() == 3


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
