"""Text-retrieval metrics from a ranked top-K list, with trec_eval's conventions.

The numbers must be comparable with MTEB/BEIR (which call pytrec_eval), so:

- a query is evaluated iff it has at least one judgement (any grade) in the qrels;
  queries with none are left out of every mean, as trec_eval does;
- relevant means grade >= 1 (trec_eval's relevance_level 1): Recall@k counts them and
  MRR@k is 1/rank of the first of them within the top k (0 if none);
- nDCG@k uses gain = grade (graded qrels count fully: grade 2 is twice grade 1) and the
  log2(rank + 1) discount, normalised by the ideal ordering of the query's judged
  documents cut at k;
- ranked ids of -1 (padding when the database is smaller than K) are unjudged.

Everything is vectorised over queries: judgements are looked up for the whole
[n_queries, K] ranking at once by a sorted-key search.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from csrbench.data.base import Relevance

_SHIFT = np.int64(32)


def _pairs_array(relevance: Relevance | np.ndarray) -> np.ndarray:
    pairs = relevance.pairs if isinstance(relevance, Relevance) else np.asarray(relevance)
    if pairs.ndim != 2 or pairs.shape[1] not in (2, 3):
        raise ValueError(
            f"relevance pairs must be [m, 3] (source, target, grade), got {pairs.shape}"
        )
    if len(pairs) == 0:
        raise ValueError("relevance has no judgements; nothing to evaluate")
    if pairs.shape[1] == 2:  # binary judgements
        pairs = np.column_stack([pairs, np.ones(len(pairs), dtype=np.int64)])
    pairs = pairs.astype(np.int64, copy=False)
    if (pairs[:, :2] < 0).any() or (pairs[:, :2] >= 1 << 32).any():
        raise ValueError("relevance rows must be in [0, 2^32)")
    return pairs


def _check_ranking(ranked_ids: np.ndarray) -> np.ndarray:
    ranked = np.asarray(ranked_ids)
    if ranked.ndim != 2:
        raise ValueError(f"ranked ids must be [n_queries, K], got shape {ranked.shape}")
    if ranked.shape[0] == 0 or ranked.shape[1] == 0:
        raise ValueError(f"ranked ids are empty (shape {ranked.shape})")
    return ranked.astype(np.int64, copy=False)


def judged_grades(ranked_ids: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """int64 [nq, K]: the grade of (query row, ranked doc) in `pairs`, 0 where unjudged.

    Raises on a pair judged twice (its grade would be ambiguous).
    """
    ranked = _check_ranking(ranked_ids)
    pairs = _pairs_array(pairs)
    keys = (pairs[:, 0] << _SHIFT) | pairs[:, 1]
    order = np.argsort(keys, kind="stable")
    keys, grades = keys[order], pairs[order, 2]
    if len(keys) > 1 and (keys[1:] == keys[:-1]).any():
        dup = keys[1:][keys[1:] == keys[:-1]][0]
        raise ValueError(f"relevance judges (source {dup >> 32}, target {dup & 0xFFFFFFFF}) twice")
    rows = np.arange(ranked.shape[0], dtype=np.int64)[:, None]
    q = (rows << _SHIFT) | np.where(ranked < 0, 0xFFFFFFFF, ranked)
    pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    found = (keys[pos] == q) & (ranked >= 0)
    return np.where(found, grades[pos], 0)


def _discount(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def retrieval_scores(
    ranked_ids: np.ndarray,
    relevance: Relevance | np.ndarray,
    recall_at: Sequence[int] = (1, 10, 100),
    ndcg_at: Sequence[int] = (10,),
    mrr_at: Sequence[int] = (10,),
    per_query: bool = False,
) -> dict[str, float | np.ndarray | int]:
    """nDCG@k, Recall@k, MRR@k (keys 'ndcg@10', 'recall@1', 'mrr@10', ...) averaged over
    the evaluated queries (see module docstring), plus 'n_queries' evaluated.

    `ranked_ids[i]` is the ranking for query row i (source rows of the relevance), best
    first, e.g. the ids returned by `csrbench.retrieval.search`. A cut k beyond the
    ranking's width uses what is there (a ranking of 10 cannot score Recall@100 fully),
    so pass K >= max(k). With `per_query` the values are arrays over evaluated queries.
    """
    ranked = _check_ranking(ranked_ids)
    pairs = _pairs_array(relevance)
    nq, width = ranked.shape
    if pairs[:, 0].max() >= nq:
        raise ValueError(
            f"relevance names query row {pairs[:, 0].max()} but the ranking has {nq} rows"
        )
    for k in (*recall_at, *ndcg_at, *mrr_at):
        if k < 1:
            raise ValueError(f"cut-offs must be >= 1, got {k}")
    grades = judged_grades(ranked, pairs)
    rel = grades >= 1
    evaluated = np.zeros(nq, dtype=bool)
    evaluated[pairs[:, 0]] = True
    num_rel = np.bincount(pairs[:, 0], weights=pairs[:, 2] >= 1, minlength=nq)

    out: dict[str, float | np.ndarray | int] = {}

    def put(name: str, values: np.ndarray) -> None:
        v = values[evaluated]
        out[name] = v if per_query else float(v.mean())

    for k in recall_at:
        hits = rel[:, :k].sum(axis=1)
        put(f"recall@{k}", np.divide(hits, num_rel, out=np.zeros(nq), where=num_rel > 0))
    if ndcg_at:
        # ideal DCG: each query's judged grades sorted descending, ranks 0.. within query
        gains = np.maximum(pairs[:, 2], 0).astype(np.float64)
        order = np.lexsort((-gains, pairs[:, 0]))
        q_sorted, g_sorted = pairs[order, 0], gains[order]
        first = np.searchsorted(q_sorted, q_sorted, side="left")
        rank = np.arange(len(q_sorted)) - first
        for k in ndcg_at:
            cut = min(k, width)
            dcg = (np.maximum(grades[:, :cut], 0) * _discount(cut)).sum(axis=1)
            keep = rank < k
            ideal = np.bincount(
                q_sorted[keep],
                weights=g_sorted[keep] / np.log2(rank[keep] + 2.0),
                minlength=nq,
            )
            put(f"ndcg@{k}", np.divide(dcg, ideal, out=np.zeros(nq), where=ideal > 0))
    for k in mrr_at:
        top = rel[:, :k]
        first_hit = top.argmax(axis=1)
        put(f"mrr@{k}", np.where(top.any(axis=1), 1.0 / (first_hit + 1.0), 0.0))
    out["n_queries"] = int(evaluated.sum())
    return out
