"""The whole DAG on the tiny CI config, run for real: embed -> train -> encode -> evaluate."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from report_browser import chromium, open_report, png_size

pytestmark = pytest.mark.slow


def test_every_stage_wrote_its_outputs(finished_run, wf) -> None:
    workdir, _ = finished_run
    cfg = wf.load_yaml("config/test.yaml")
    emb = workdir / "results" / "embeddings"
    digits = np.load(emb / "digits" / "effnet-lite0" / "train" / "image.npy", mmap_mode="r")
    assert digits.shape[1] == 1280
    prov = json.loads((emb / "pycode" / "minilm" / "test" / "provenance.json").read_text())
    assert prov["fields"]["query"]["d"] == 384
    assert prov["fields"]["query"]["n"] == prov["fields"]["doc"]["n"]
    for name, exp in cfg["experiments"].items():
        for method in exp["methods"]:
            budgets = ["full"] if method == "full" else [f"k{k}" for k in exp["k"]]
            for budget in budgets:
                path = workdir / "results" / "metrics" / name / method / f"{budget}.json"
                result = json.loads(path.read_text())
                assert result["method"] == method
                assert all(
                    0.0 <= v <= 1.0 for k, v in result["metrics"].items() if k != "n_queries"
                )


def test_seeds_validation_tuning_and_comparisons(finished_run) -> None:
    workdir, _ = finished_run
    res = workdir / "results"
    emb = res / "embeddings" / "pycode" / "minilm"
    ids = {s: set(np.load(emb / s / "doc.ids.npy")) for s in ("train", "val", "test")}
    assert ids["val"] and not ids["val"] & ids["train"] and not ids["val"] & ids["test"]
    csr = json.loads((res / "metrics" / "pycode" / "csr" / "k8.json").read_text())
    assert csr["seeds"] == [0, 1] and len(csr["per_seed"]["ndcg@10"]) == 2
    assert csr["spread"]["ndcg@10"]["low"] <= csr["metrics"]["ndcg@10"]
    assert csr["validation"]["rows"]["val"]["doc"] == len(ids["val"])
    tuned = json.loads((res / "tune" / "pycode" / "csr.json").read_text())
    assert tuned["n_trials"] == 2 and tuned["metric"] == "ndcg@10"
    summary = json.loads(
        (res / "models" / "pycode" / "csr" / "k8" / "seed1" / "summary.json").read_text()
    )
    assert summary["tuned"] == tuned["chosen"] and summary["seed"] == 1
    compare = json.loads((res / "compare" / "pycode.json").read_text())
    pairs = {(r["axis"], r["budget"], r["b"]["method"]) for r in compare["comparisons"]}
    assert {("k", 8, "mrl"), ("k", 32, "mrl"), ("k", 8, "trunc")} <= pairs


def test_frontier_prices_every_code_at_every_codec(finished_run, wf) -> None:
    workdir, _ = finished_run
    cfg = wf.load_yaml("config/test.yaml")
    for name, exp in cfg["experiments"].items():
        body = json.loads((workdir / "results" / "frontier" / f"{name}.json").read_text())
        configs = {(p["method"], p["budget"], p["codec"]) for p in body["points"]}
        for method in exp["methods"]:
            budgets = ["full"] if method == "full" else [f"k{k}" for k in exp["k"]]
            codecs = ["f16", "sq8", "sq4"] if method == "csr" else ["f16", "sq8", "sq4", "bin"]
            assert {(method, b, c) for b in budgets for c in codecs} <= configs, (name, method)
        assert body["calibration"]["split"] == exp.get("train_split", "train")
        assert any(p["pareto"] for p in body["points"])
        assert (workdir / "results" / "figures" / f"{name}_frontier.png").exists()
        assert (workdir / "results" / "tables" / f"{name}_frontier_budgets.csv").exists()


def test_metrics_are_not_trivial(finished_run) -> None:
    workdir, _ = finished_run
    metrics = workdir / "results" / "metrics"
    digits = json.loads((metrics / "digits" / "full" / "full.json").read_text())["metrics"]
    assert digits["knn1_top1"] > 0.6  # chance is 0.1
    pycode = json.loads((metrics / "pycode" / "full" / "full.json").read_text())["metrics"]
    assert pycode["ndcg@10"] > 0.5  # chance is about 0.01
    csr = json.loads((metrics / "pycode" / "csr" / "k8.json").read_text())
    assert csr["bytes_per_doc"] == 8 * 4 and csr["sparse"]


def test_second_run_has_nothing_to_do(finished_run, wf) -> None:
    workdir, config = finished_run
    start = time.perf_counter()
    proc = wf.run(workdir, "--cores", "2", "--configfile", str(config))
    elapsed = time.perf_counter() - start
    assert "Nothing to be done" in proc.stdout + proc.stderr
    print(f"no-op run: {elapsed:.2f} s")


def test_embedding_threads_schedule_jobs_and_change_no_output(finished_run, wf) -> None:
    """`embed.threads` is excluded from the embed params: raising it re-runs nothing."""
    workdir, _ = finished_run
    cfg = wf.load_yaml("config/test.yaml")
    cfg.setdefault("embed", {})["threads"] = 3
    changed = wf.write_config(workdir / "threads.yaml", cfg)
    proc = wf.run(workdir, "-n", "--configfile", str(changed))
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout


def test_config_change_reruns_only_what_depends_on_it(finished_run, wf) -> None:
    workdir, _ = finished_run
    cfg = wf.load_yaml("config/test.yaml")
    cfg["backbones"]["minilm"]["max_seq_length"] = 48
    changed = wf.write_config(workdir / "changed.yaml", cfg)
    proc = wf.run(workdir, "-n", "--configfile", str(changed))
    jobs = wf.planned_jobs(proc)
    assert jobs["embed"] == 3  # pycode's train, val (carved from train) and test splits
    wildcards = [line.strip() for line in proc.stdout.splitlines() if "wildcards:" in line]
    assert wildcards, proc.stdout
    assert all("digits" not in line for line in wildcards), wildcards
    exp = cfg["experiments"]["pycode"]
    # per seed for the trained methods (2 seeds in the test config), once otherwise
    seeds = {"full": 1, "csr": 2, "mrl": 2, "mrl-ft": 2, "trunc": 1}
    pycode_codes = sum((1 if m == "full" else len(exp["k"])) * seeds[m] for m in exp["methods"])
    assert jobs["evaluate"] == pycode_codes
    assert jobs["tune"] == 2  # csr and mrl are tuned on the re-embedded validation split
    assert jobs["finetune"] == 2  # the backbone entry is part of the fine-tune's settings


def test_mrl_ft_scores_its_validation_chosen_checkpoint_and_times_it(finished_run) -> None:
    """mrl-ft's evaluated score is the curve's score at the checkpoint validation chose
    (two computations, one number), and the training-time record sets its fine-tune
    beside CSR's fits."""
    workdir, _ = finished_run
    res = workdir / "results"
    for seed in (0, 1):
        summary = json.loads(
            (res / "finetune" / "pycode" / f"seed{seed}" / "summary.json").read_text()
        )
        curve = json.loads((res / "finetune" / "pycode" / f"seed{seed}.curve.json").read_text())
        (chosen,) = [p for p in curve["points"] if p["chosen"]]
        assert chosen["step"] == summary["chosen_step"]
        assert chosen["val_loss"] == min(c["val_loss"] for c in summary["checkpoints"])
        for k in (8, 32):
            scored = json.loads(
                (res / "metrics" / "pycode" / "mrl-ft" / f"k{k}" / f"seed{seed}.json").read_text()
            )
            assert scored["metrics"]["ndcg@10"] == pytest.approx(chosen["scores"][str(k)], abs=1e-9)
    record = json.loads((res / "training_time" / "pycode.json").read_text())
    assert {f["method"] for f in record["fits"]} == {"csr", "mrl"}
    assert record["embedding"]["seconds"] > 0 and len(record["finetune"]) == 2 * 2
    assert (res / "figures" / "pycode_accuracy_vs_training_time.png").exists()
    assert (res / "tables" / "pycode_training_time.csv").exists()
    verdicts = (res / "tables" / "pycode_verdicts.md").read_text()
    assert "Training time at k = 8: CSR" in verdicts


def test_bench_job_times_every_engine_on_real_codes(finished_run, tmp_path) -> None:
    from csrbench.speed import bench_job

    workdir, _ = finished_run
    res = workdir / "results"
    out = tmp_path / "speed.json"
    result = bench_job(
        res / "codes" / "pycode" / "csr" / "k8" / "seed0",
        res / "embeddings" / "pycode" / "minilm" / "test",
        "train",
        "test",
        out,
        repeats=2,
    )
    assert json.loads(out.read_text())["method"] == "csr"
    assert {row["engine"] for row in result["engines"]} >= {"torch-csr"}
    assert all(row["ms_per_query"] > 0 for row in result["engines"])
    assert result["database"]["field"] == "doc" and result["queries"]["field"] == "query"


def test_report_opens_in_a_browser(finished_run, wf, tmp_path) -> None:
    """`snakemake --report` on the finished run, read in headless Chromium: the Tables and
    Figures pages list every table and figure the run wrote, and one figure shows, at the
    size of its PNG, with its caption."""
    if chromium() is None:
        pytest.skip("no headless Chromium (Debian: apt-get install chromium); .ci/run installs it")
    workdir, config = finished_run
    report = workdir / "report.html"
    wf.run(workdir, "--report", str(report), "--configfile", str(config))
    figure = "results/figures/digits_accuracy_vs_k.png"
    seen = open_report(report, figure, tmp_path)
    assert "error" not in seen, seen
    results = workdir / "results"
    tables = {f"results/tables/{p.name}" for p in (results / "tables").glob("*.csv")}
    figures = {f"results/figures/{p.name}" for p in (results / "figures").glob("*.png")}
    assert tables and figures and figure in figures
    assert set(seen["tables"]) == tables
    assert set(seen["figures"]) == figures
    assert (seen["image"]["width"], seen["image"]["height"]) == png_size(workdir / figure)
    assert f"Figure {Path(figure).stem}" in seen["info"]
