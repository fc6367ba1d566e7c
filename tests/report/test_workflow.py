"""`snakemake figures` on result JSON files alone: only the report job, in seconds.

The tree holds results of the config's own experiment (`digits`, whose embeddings,
models and codes are absent, as on a fresh clone) and of experiments the config does
not name; neither may plan an upstream job. The full run (rule all) ends in
`report_run`, after the config's metrics.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from report_data import IMAGE, metric, write_results
from snakemake_output import job_stats

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "--snakefile", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("figures")
    results = write_results(work / "results")
    for (method, k), (knn, probe, dims, nbytes) in IMAGE.items():
        metric(
            results,
            "digits",
            method,
            k,
            {"knn1_top1": knn, "linear_probe_top1": probe},
            active_dims=dims,
            bytes_per_doc=nbytes,
        )
    config = work / "test.yaml"
    shutil.copy(ROOT / "config" / "test.yaml", config)
    return work, config


def test_figures_plans_and_runs_only_the_report(workdir) -> None:
    work, config = workdir
    dry = snakemake(work, "figures", "-n", "--configfile", str(config))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert job_stats(dry.stdout) == {"figures": 1}

    start = time.perf_counter()
    run = snakemake(work, "figures", "--cores", "1", "--configfile", str(config))
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stdout + run.stderr
    assert job_stats(run.stdout + run.stderr) == {"figures": 1}
    assert re.findall(r"Finished jobid: \d+ \(Rule: (\S+)\)", run.stderr) == ["figures"]
    assert seconds < 120  # seconds on an idle machine; generous for a loaded 2-core CI box
    assert (work / "results/tables/digits_knn1.csv").exists()
    assert (work / "results/tables/coco-clip_image_text.tex").exists()
    assert (work / "results/figures/digits_accuracy_vs_k.pdf").exists()
    # compare and tune files are inputs too: their tables and the verdicts are written
    assert (work / "results/tables/digits-mini_significance.csv").exists()
    assert (work / "results/tables/digits-mini_tuning.csv").exists()
    assert (work / "results/tables/digits-mini_verdicts.md").exists()
    assert (work / "logs/report/figures.log").exists()
    assert (work / "benchmarks/report/figures.tsv").exists()
    again = snakemake(work, "figures", "-n", "--configfile", str(config))
    assert "Nothing to be done" in again.stdout + again.stderr

    report = snakemake(
        work, "figures", "--report", str(work / "report.html"), "--configfile", str(config)
    )
    assert report.returncode == 0, report.stdout + report.stderr
    html = (work / "report.html").read_text()
    assert "digits_knn1" in html and "Table digits_knn1" in html


def test_full_run_ends_in_report_run(workdir) -> None:
    work, config = workdir
    dry = snakemake(work, "-n", "--configfile", str(config))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    jobs = job_stats(dry.stdout)
    assert jobs["report_run"] == 1 and "figures" not in jobs
    assert jobs["evaluate"] >= 1  # waits for the config's metrics (pycode has none here)


def test_figures_without_results_says_what_to_run(tmp_path: Path) -> None:
    config = tmp_path / "test.yaml"
    shutil.copy(ROOT / "config" / "test.yaml", config)
    proc = snakemake(tmp_path, "figures", "--cores", "1", "--configfile", str(config))
    assert proc.returncode != 0
    assert "no metric JSON files under results/metrics" in proc.stderr
    log = (tmp_path / "logs/report/figures.log").read_text()
    assert "no metric JSON files under results/metrics" in log
    assert "snakemake --cores all" in log
