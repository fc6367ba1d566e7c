"""Tuning: every grid point fitted and scored on validation; the best one chosen."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csrbench.data.base import Relevance
from csrbench.store import FieldEmbeddings, SplitEmbeddings, load_split
from csrbench.tune import expand_grid, tune_job, validation_score


def test_grid_expands_in_order_and_rejects_scalars():
    got = expand_grid({"temperature": [0.05, 0.2], "init_pre_bias": ["zeros", "mean"]})
    assert got == [
        {"temperature": 0.05, "init_pre_bias": "zeros"},
        {"temperature": 0.05, "init_pre_bias": "mean"},
        {"temperature": 0.2, "init_pre_bias": "zeros"},
        {"temperature": 0.2, "init_pre_bias": "mean"},
    ]
    with pytest.raises(ValueError, match="non-empty list"):
        expand_grid({"lr": 0.1})
    with pytest.raises(ValueError, match="non-empty list"):
        expand_grid({"lr": []})


def _pairs_split(n: int, seed: int, d: int = 16) -> SplitEmbeddings:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, d)).astype(np.float32)
    doc = (q + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    ids = np.arange(n).astype(str)
    rel = Relevance("query", "doc", np.stack([np.arange(n), np.arange(n), np.ones(n, int)], 1))
    return SplitEmbeddings(
        {
            "query": FieldEmbeddings("query", q, ids, None),
            "doc": FieldEmbeddings("doc", doc, ids, None),
        },
        rel,
        {},
    )


def test_validation_score_is_ndcg_of_the_val_queries_against_val_docs():
    from csrbench.methods import fit

    val = _pairs_split(80, 1)
    full = fit("full", None, _pairs_split(50, 0), {}, device="cpu")
    name, score = validation_score(full, None, _pairs_split(50, 0), val)
    # independent: exact cosine ranking with numpy, nDCG@10 with one relevant doc per query
    q = val.field("query").x / np.linalg.norm(val.field("query").x, axis=1, keepdims=True)
    d = val.field("doc").x / np.linalg.norm(val.field("doc").x, axis=1, keepdims=True)
    rank = (np.argsort(-(q @ d.T), axis=1) == np.arange(80)[:, None]).argmax(axis=1)
    ref = np.where(rank < 10, 1 / np.log2(rank + 2), 0).mean()
    assert name == "ndcg@10" and score == pytest.approx(ref)


def _write(split: SplitEmbeddings, path) -> str:
    from csrbench.store import SplitWriter

    with SplitWriter(path, path.with_name(path.name + ".resume")) as w:
        for name, f in split.fields.items():
            w.write_field(name, iter([np.asarray(f.x)]), f.ids, f.labels)
        w.write_relevance(split.relevance)
        w.commit({"modality": "text"})
    return str(path)


def test_tune_job_scores_each_point_on_val_and_picks_the_best(tmp_path):
    train = _write(_pairs_split(120, 0), tmp_path / "train")
    val = _write(_pairs_split(60, 1), tmp_path / "val")
    spec = {
        "method": "pca",
        "k": 4,
        "modality": "text",
        "seed": 0,
        "device": "cpu",
        "overrides": {},
    }
    out = tune_job(train, val, spec, {"center": [False, True]}, tmp_path / "tune.json")
    assert json.loads((tmp_path / "tune.json").read_text())["chosen"] == out["chosen"]
    assert out["n_trials"] == 2 and out["metric"] == "ndcg@10" and out["split"] == "val"
    scores = [t["score"] for t in out["trials"]]
    assert (
        out["score"] == max(scores)
        and out["chosen"] == out["trials"][scores.index(max(scores))]["params"]
    )
    from csrbench.methods import fit

    for trial in out["trials"]:  # each score is that grid point's own validation nDCG@10
        fitted = fit("pca", 4, load_split(train), trial["params"], "cpu")
        assert validation_score(fitted, 4, load_split(train), load_split(val))[1] == trial["score"]
