"""nDCG / Recall / MRR against pytrec_eval (trec_eval) on random graded judgements."""

from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval

from csrbench.data.base import Relevance
from csrbench.metrics import judged_grades, retrieval_scores


def random_case(seed: int, nq: int = 60, n_docs: int = 400, depth: int = 100):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(n_docs)[:depth] for _ in range(nq)])
    pairs = []
    for q in range(nq):
        if q % 7 == 3:  # no judgement at all: left out of the means
            continue
        m = rng.integers(1, 25)
        docs = rng.choice(n_docs, m, replace=False)
        # favour judged docs near the top so the metrics are not all ~0
        docs[: m // 2] = rng.choice(ranked[q, :30], m // 2, replace=False)
        docs = np.unique(docs)
        grades = rng.integers(0, 4, len(docs))  # 0 = judged non-relevant
        if q % 11 == 5:
            grades[:] = 0  # judged, but nothing relevant
        pairs += [(q, d, g) for d, g in zip(docs, grades, strict=True)]
    return ranked, np.array(pairs, dtype=np.int64)


def trec(ranked: np.ndarray, pairs: np.ndarray, depth: int, measures: set[str]) -> dict:
    qrels: dict[str, dict[str, int]] = {}
    for q, d, g in pairs.tolist():
        qrels.setdefault(f"q{q}", {})[f"d{d}"] = g
    run = {
        f"q{q}": {f"d{d}": float(depth - r) for r, d in enumerate(row[:depth].tolist())}
        for q, row in enumerate(ranked)
    }
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    keys = sorted(per_query)
    return {m: np.mean([per_query[q][m] for q in keys]) for m in next(iter(per_query.values()))}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pytrec_eval(seed: int) -> None:
    ranked, pairs = random_case(seed)
    ours = retrieval_scores(ranked, Relevance("query", "doc", pairs))
    ref = trec(ranked, pairs, 100, {"ndcg_cut.10", "recall.1", "recall.10", "recall.100"})
    ref_mrr = trec(ranked, pairs, 10, {"recip_rank"})  # MRR@10 = recip_rank of the top 10
    assert ours["n_queries"] == len(np.unique(pairs[:, 0]))
    assert ours["ndcg@10"] == pytest.approx(ref["ndcg_cut_10"], abs=1e-12)
    assert ours["recall@1"] == pytest.approx(ref["recall_1"], abs=1e-12)
    assert ours["recall@10"] == pytest.approx(ref["recall_10"], abs=1e-12)
    assert ours["recall@100"] == pytest.approx(ref["recall_100"], abs=1e-12)
    assert ours["mrr@10"] == pytest.approx(ref_mrr["recip_rank"], abs=1e-12)
    assert 0.05 < ours["ndcg@10"] < 0.95  # the case is not degenerate


def test_hand_computed_case() -> None:
    ranked = np.array([[5, 2, 9, -1], [1, 0, 3, 4]])
    pairs = np.array([[0, 2, 2], [0, 7, 1], [1, 4, 1]])
    out = retrieval_scores(ranked, pairs, recall_at=(1, 4), ndcg_at=(3,), mrr_at=(3, 4))
    # query 0: grade 2 at rank 2 -> dcg 2/log2(3); ideal [2, 1] -> 2 + 1/log2(3)
    ndcg0 = (2 / np.log2(3)) / (2 + 1 / np.log2(3))
    assert out["ndcg@3"] == pytest.approx((ndcg0 + 0.0) / 2)
    assert out["recall@1"] == 0.0
    assert out["recall@4"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["mrr@3"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["mrr@4"] == pytest.approx((0.5 + 0.25) / 2)
    per = retrieval_scores(ranked, pairs, per_query=True)
    np.testing.assert_allclose(per["mrr@10"], [0.5, 0.25])
    np.testing.assert_array_equal(judged_grades(ranked, pairs), [[0, 2, 0, 0], [0, 0, 0, 1]])


def test_bad_inputs() -> None:
    ranked = np.array([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="empty"):
        retrieval_scores(np.zeros((0, 10), dtype=np.int64), np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match=r"\[n_queries, K\]"):
        retrieval_scores(np.array([0, 1]), np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="query row 5"):
        retrieval_scores(ranked, np.array([[5, 1, 1]]))
    with pytest.raises(ValueError, match="twice"):
        retrieval_scores(ranked, np.array([[0, 1, 1], [0, 1, 2]]))
    with pytest.raises(ValueError, match="no judgements"):
        retrieval_scores(ranked, np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[m, 3\]"):
        retrieval_scores(ranked, np.array([[0, 1, 1, 1]]))
