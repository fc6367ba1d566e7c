"""Image-text retrieval Recall@{1,5,10} in both directions (COCO / Flickr30k protocol).

Matches are (text row, image row) pairs: a COCO image has five captions, a caption one
image. Image -> text: a query image scores a hit at K if ANY of its captions is among
its top K texts. Text -> image: a caption hits if its image is in its top K. Recall@K
is the fraction of queries with a hit, over queries that have at least one match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csrbench.data.base import Relevance
from csrbench.metrics.knn import l2_normalize
from csrbench.metrics.retrieval import _check_ranking, _pairs_array, judged_grades
from csrbench.retrieval import Database, check_inputs, search


def recall_at(
    ranked_ids: np.ndarray, pairs: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Recall@K of one direction: pairs are (query row, target row[, grade])."""
    ranked = _check_ranking(ranked_ids)
    p = _pairs_array(pairs)
    if p[:, 0].max() >= ranked.shape[0]:
        raise ValueError(f"pairs name query row {p[:, 0].max()}; the ranking has {len(ranked)}")
    hit = judged_grades(ranked, p) >= 1
    has_match = np.zeros(ranked.shape[0], dtype=bool)
    has_match[p[p[:, 2] >= 1, 0]] = True
    out = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"cut-offs must be >= 1, got {k}")
        out[f"recall@{k}"] = float(hit[has_match, :k].any(axis=1).mean())
    return out


def _text_image_pairs(matches: Relevance | np.ndarray) -> np.ndarray:
    return _pairs_array(matches)[:, :2]


def crossmodal_recall_from_rankings(
    i2t_ids: np.ndarray,
    t2i_ids: np.ndarray,
    matches: Relevance | np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """{'i2t_recall@K', 't2i_recall@K'} from the two rankings (rows = image / text
    queries) and the (text row, image row) matches."""
    ti = _text_image_pairs(matches)
    out = {f"i2t_{key}": v for key, v in recall_at(i2t_ids, ti[:, ::-1], ks).items()}
    out.update({f"t2i_{key}": v for key, v in recall_at(t2i_ids, ti, ks).items()})
    return out


def crossmodal_recall(
    images: Database,
    texts: Database,
    matches: Relevance | np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    engine: str | None = None,
    normalize: bool = True,
    **engine_options: Any,
) -> dict[str, float]:
    """Search both directions with exact cosine similarity (codes L2-normalised) and
    return Recall@K for image->text and text->image. `matches` is a Relevance whose
    source is the text field and target the image field, or an [m, 2] array of
    (text row, image row)."""
    kmax = max(ks)
    check_inputs(images, texts, kmax)
    if normalize:
        images, texts = l2_normalize(images), l2_normalize(texts)
    _, i2t = search(engine, texts, images, kmax, **engine_options)
    _, t2i = search(engine, images, texts, kmax, **engine_options)
    return crossmodal_recall_from_rankings(i2t, t2i, matches, ks)
