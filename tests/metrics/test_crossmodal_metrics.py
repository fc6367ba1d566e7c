from __future__ import annotations

import numpy as np
import pytest

from csrbench.codes import SparseCodes
from csrbench.data.base import Relevance
from csrbench.metrics import crossmodal_recall, crossmodal_recall_from_rankings


def test_hand_built_rankings() -> None:
    # 3 images; texts 0,1 -> image 0, texts 2,3 -> image 1, text 4 -> image 2
    matches = np.array([[0, 0], [1, 0], [2, 1], [3, 1], [4, 2]])
    i2t = np.array([[1, 4, 2], [4, 0, 3], [0, 1, 2]])  # hits at rank 1, 3, never
    t2i = np.array([[0, 1], [1, 0], [2, 0], [1, 2], [0, 1]])  # ranks 1, 2, -, 1, -
    out = crossmodal_recall_from_rankings(i2t, t2i, matches, ks=(1, 2, 3))
    assert out["i2t_recall@1"] == pytest.approx(1 / 3)
    assert out["i2t_recall@2"] == pytest.approx(1 / 3)
    assert out["i2t_recall@3"] == pytest.approx(2 / 3)
    assert out["t2i_recall@1"] == pytest.approx(2 / 5)
    assert out["t2i_recall@2"] == pytest.approx(3 / 5)


@pytest.mark.parametrize("engine", ["torch", "faiss"])
def test_search_path_on_hand_built_vectors(engine: str) -> None:
    # image i is the unit axis e_i; caption vectors point at their image, except
    # caption 3 (of image 1) which points at image 2
    images = np.eye(3, 4, dtype=np.float32)
    texts = np.array(
        [[1, 0.1, 0, 0], [0.9, 0, 0.2, 0], [0, 1, 0, 0.1], [0, 0.5, 1, 0.3], [0, 0.2, 1, 0]],
        dtype=np.float32,
    )
    rel = Relevance(
        "text", "image", np.array([[0, 0, 1], [1, 0, 1], [2, 1, 1], [3, 1, 1], [4, 2, 1]])
    )
    out = crossmodal_recall(images, texts, rel, ks=(1, 2), engine=engine)
    assert out["t2i_recall@1"] == pytest.approx(4 / 5)  # caption 3 misses at 1
    assert out["t2i_recall@2"] == pytest.approx(1.0)
    # image 1's best text is caption 2 (its own): every image hits at 1
    assert out["i2t_recall@1"] == pytest.approx(1.0)

    codes = lambda x: SparseCodes(  # noqa: E731
        np.broadcast_to(np.arange(4, dtype=np.int16), x.shape).copy(), x, 4
    )
    assert crossmodal_recall(codes(images), codes(texts), rel, ks=(1, 2)) == out


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="query row"):
        crossmodal_recall_from_rankings(np.zeros((1, 2)), np.zeros((1, 2)), np.array([[0, 3]]))
    with pytest.raises(ValueError, match="width"):
        crossmodal_recall(
            np.eye(3, dtype=np.float32), np.ones((2, 4), np.float32), np.array([[0, 0]])
        )
