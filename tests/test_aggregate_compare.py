"""Seed aggregation and the paired comparisons built on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from csrbench.aggregate import aggregate, aggregate_job
from csrbench.compare import compare_job, holm, items_path
from csrbench.stats import seed_interval


def _seed_record(seed: int, ndcg: float, method: str = "csr", k: int = 8, b: int = 32) -> dict:
    return {
        "method": method,
        "k": k,
        "bytes_per_doc": b,
        "seed": seed,
        "metrics": {"ndcg@10": ndcg, "n_queries": 50},
        "seconds": {"retrieval": 0.1 * (seed + 1)},
    }


def test_aggregate_means_and_intervals_over_seeds():
    recs = [_seed_record(s, v) for s, v in enumerate([0.60, 0.64, 0.62])]
    out = aggregate(recs)
    assert out["seeds"] == [0, 1, 2] and out["per_seed"]["ndcg@10"] == [0.60, 0.64, 0.62]
    assert out["metrics"]["ndcg@10"] == pytest.approx(0.62)
    assert out["metrics"]["n_queries"] == 50  # a count is kept, not averaged away
    assert out["spread"]["ndcg@10"] == seed_interval([0.60, 0.64, 0.62]).as_dict()
    assert out["seconds"]["retrieval"] == pytest.approx(0.2) and "seed" not in out


def test_aggregate_refuses_mixed_files():
    with pytest.raises(ValueError, match="disagree on k"):
        aggregate([_seed_record(0, 0.5), _seed_record(1, 0.5, k=16)])
    with pytest.raises(ValueError, match="repeat a seed"):
        aggregate([_seed_record(0, 0.5), _seed_record(0, 0.5)])


def test_holm_matches_hand_computation():
    # sorted p: .01*3=.03, .02*2=.04, .04*1=.04 (monotone) -> back in input order
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def _write(root: Path, method: str, k: int, b: int, seeds: list[int], scores: list) -> Path:
    agg = root / method / f"k{k}.json"
    for s, sc in zip(seeds, scores, strict=True):
        p = items_path(agg, s)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez(p, **{"ndcg@10": np.asarray(sc)})
        (p.parent / f"seed{s}.json").write_text(
            json.dumps(_seed_record(s, float(np.mean(sc)), method, k, b))
        )
    aggregate_job([agg.with_suffix("") / f"seed{s}.json" for s in seeds], agg)
    return agg


def test_compare_pairs_equal_k_and_best_under_each_byte_budget(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random(300)
    files = [
        _write(tmp_path, "csr", 8, 32, [0, 1, 2], [base + 0.1 + 0.01 * s for s in range(3)]),
        _write(tmp_path, "csr", 16, 64, [0, 1, 2], [base + 0.2 for _ in range(3)]),
        _write(tmp_path, "mrl", 8, 16, [0, 1, 2], [base for _ in range(3)]),
        _write(
            tmp_path,
            "mrl",
            16,
            32,
            [0, 1, 2],
            [base + 0.05 + rng.normal(0, 0.01, 300) for _ in range(3)],
        ),
        _write(tmp_path, "pca", 16, 32, [0], [base + 0.3]),
    ]
    out = compare_job("toy", files, tmp_path / "cmp.json", n_resamples=400)
    assert json.loads((tmp_path / "cmp.json").read_text()) == json.loads(json.dumps(out))
    assert out["primary_metric"] == "ndcg@10"
    rows = out["comparisons"]
    at_k = {(r["budget"], r["b"]["method"]): r for r in rows if r["axis"] == "k"}
    assert set(at_k) == {(8, "mrl"), (16, "mrl"), (16, "pca")}
    assert at_k[(8, "mrl")]["diff"] == pytest.approx(0.11) and at_k[(8, "mrl")]["significant"]
    assert at_k[(16, "pca")]["diff"] == pytest.approx(-0.1)
    by_bytes = {(r["budget"], r["b"]["method"]): r for r in rows if r["axis"] == "bytes"}
    # 16 B: CSR has nothing that small -> no row; 32 B: CSR k8 vs the best of mrl k8/k16
    assert (16, "mrl") not in by_bytes
    assert by_bytes[(32, "mrl")]["a"]["budget"] == "k8"
    assert by_bytes[(32, "mrl")]["b"]["budget"] == "k16"
    assert by_bytes[(64, "pca")]["a"]["budget"] == "k16"
    # 128 and 256 B would pick the same codes as 64 B: the pair is tested once
    assert sorted(b for b, m in by_bytes if m == "mrl") == [32, 64]
    assert all(0 < r["p_holm"] <= 1 and r["p_holm"] >= r["p_value"] for r in rows)
