"""Training time as the paper counts it: the collected record (csrbench.training_time)
and the table, figure and verdict lines drawn from it (csrbench.report.finetune_time),
on small files written here, with every number checked by hand."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from csrbench.report.collect import Results
from csrbench.report.finetune_time import (
    accuracy_vs_training_time,
    training_time_lines,
    training_time_tables,
)
from csrbench.training_time import training_time, training_time_job


def _write(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


@pytest.fixture()
def inputs(tmp_path: Path) -> SimpleNamespace:
    r = tmp_path / "results"
    emb = r / "embeddings" / "pycode" / "minilm" / "train"
    _write(
        emb / "provenance.json",
        {
            "split": "train",
            "n": {"query": 100, "doc": 100},
            "seconds": {"query": 4.0, "doc": 16.0},
            "device": "cpu",
            "hardware": {"torch_threads": 2},
        },
    )
    summaries, metrics = [], []
    for seed in (0, 1):
        for k, fit in ((8, 10.0 + seed), (32, 30.0 + seed)):
            summaries.append(
                _write(
                    r / "models/e/csr" / f"k{k}" / f"seed{seed}" / "summary.json",
                    {"k": k, "fit_seconds": fit},
                )
            )
            metrics.append(
                _write(
                    r / "metrics/e/csr" / f"k{k}" / f"seed{seed}.json",
                    {"k": k, "metrics": {"ndcg@10": 0.2 + k / 100 + seed / 100, "recall@1": 0.1}},
                )
            )
            metrics.append(
                _write(
                    r / "metrics/e/mrl" / f"k{k}" / f"seed{seed}.json",
                    {"k": k, "metrics": {"ndcg@10": 0.1 + k / 100}},
                )
            )
        summaries.append(
            _write(
                r / "models/e/mrl/all" / f"seed{seed}" / "summary.json",
                {"k": None, "fit_seconds": 5.0},
            )
        )
    curves = [
        _write(
            r / "finetune/e" / f"seed{seed}.curve.json",
            {
                "seed": seed,
                "metric": "ndcg@10",
                "points": [
                    {
                        "step": 2,
                        "fraction": 0.5,
                        "seconds": 50.0,
                        "val_loss": 2.0,
                        "chosen": False,
                        "metric": "ndcg@10",
                        "scores": {"8": 0.1, "32": 0.3},
                    },
                    {
                        "step": 4,
                        "fraction": 1.0,
                        "seconds": 100.0 + seed,
                        "val_loss": 1.0,
                        "chosen": True,
                        "metric": "ndcg@10",
                        "scores": {"8": 0.2 + seed / 10, "32": 0.4},
                    },
                ],
            },
        )
        for seed in (0, 1)
    ]
    return SimpleNamespace(embeddings=emb, summaries=summaries, metrics=metrics, curves=curves)


def test_each_fit_pays_one_embedding_extraction_and_the_head_counts_at_every_k(inputs) -> None:
    record = training_time(
        inputs.embeddings, inputs.summaries, inputs.metrics, inputs.curves, "e", threads=1
    )
    assert record["metric"] == "ndcg@10" and record["embedding"]["seconds"] == 20.0
    fits = {(f["method"], f["k"], f["seed"]): f for f in record["fits"]}
    assert fits[("csr", 32, 1)]["seconds"] == 31.0 + 20.0
    assert fits[("csr", 32, 1)]["score"] == pytest.approx(0.53)
    # the MRL head is one fit serving both budgets: its time appears at each
    assert fits[("mrl", 8, 0)]["seconds"] == fits[("mrl", 32, 0)]["seconds"] == 25.0
    assert len(record["finetune"]) == 4 and record["finetune"][3]["seed"] == 1


def test_a_curve_tracking_another_metric_is_refused(inputs) -> None:
    body = json.loads(inputs.curves[0].read_text())
    inputs.curves[0].write_text(json.dumps({**body, "metric": "knn1_top1"}))
    with pytest.raises(ValueError, match="tracks knn1_top1"):
        training_time(inputs.embeddings, inputs.summaries, inputs.metrics, inputs.curves, "e", 1)


def _results(record: dict) -> Results:
    return Results(metrics=pd.DataFrame({"experiment": ["e"]}), training_time_files={"e": record})


def test_table_lines_and_figure_give_times_scores_and_the_ratio(inputs, tmp_path) -> None:
    out = tmp_path / "tt.json"
    record = training_time_job(inputs, out, "e", threads=1)
    assert json.loads(out.read_text()) == record
    (table,) = training_time_tables(_results(record))
    frame = table.frame
    assert list(frame.index) == [8, 32] and frame.index.dtype.kind == "i"  # budgets, not 8.0
    assert "on 1 thread;" in table.caption
    # CSR at k=8: (10 + 20, 11 + 20) s -> 30.5 s; the fine-tune: its whole run, 100.5 s
    assert frame.loc[8, "CSR (s)"] == pytest.approx(30.5)
    assert frame.loc[8, "MRL fine-tune (s)"] == pytest.approx(100.5)
    assert frame.loc[8, "MRL fine-tune / CSR time"] == pytest.approx(100.5 / 30.5)
    # the fine-tune's score is its validation-chosen checkpoint's: mean of 0.2 and 0.3
    assert frame.loc[8, "MRL fine-tune"] == pytest.approx(25.0)
    assert frame.loc[32, "MRL head"] == pytest.approx(42.0)
    lines = training_time_lines(_results(record), "e")
    assert lines[1].startswith("- Training time at k = 8: CSR 30 s") and "(3.3x CSR's)" in lines[1]
    fig = accuracy_vs_training_time("e", record)
    ax = fig.axes[0]
    curve = next(line for line in ax.get_lines() if line.get_label().startswith("MRL fine-tune"))
    assert list(curve.get_xdata()) == [50.0, 100.5]
    assert list(curve.get_ydata()) == pytest.approx([10.0, 25.0])
    labels = {line.get_label() for line in ax.get_lines()}
    assert {"CSR", "MRL head", "MRL fine-tune (checkpoints)"} <= labels
    assert ax.get_xscale() == "log" and ax.get_title() == "k = 8"


def test_no_file_no_table_no_lines() -> None:
    empty = Results(metrics=pd.DataFrame({"experiment": ["e"]}))
    assert training_time_tables(empty) == [] and training_time_lines(empty, "e") == []
