from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import v_measure_score

from csrbench.codes import SparseCodes
from csrbench.metrics import cluster, clustering_scores, hungarian_accuracy, v_measure


def test_hungarian_accuracy_of_a_permuted_labelling_is_one() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 500)
    perm = rng.permutation(7) + 100  # renamed clusters
    assert hungarian_accuracy(y, perm[y]) == 1.0


def test_hungarian_accuracy_hand_case() -> None:
    # clusters {0,1} both mostly label 0: only one of them can map to label 0
    true = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 0, 1, 1, 1, 2])
    # best: 0->0 (2), 1->1 (1) or 2->1 (1): 3 of 6
    assert hungarian_accuracy(true, pred) == pytest.approx(3 / 6)


def test_v_measure_is_sklearns() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 5, 300), rng.integers(0, 4, 300)
    assert v_measure(a, b) == pytest.approx(v_measure_score(a, b))


@pytest.mark.parametrize("method", ["minibatch", "kmeans"])
def test_separated_blobs_cluster_perfectly(method: str) -> None:
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(4), 60)
    x = np.eye(4, 16)[y] * 10 + rng.standard_normal((240, 16)) * 0.1
    out = clustering_scores(x.astype(np.float32), y, method=method)
    assert out == {"v_measure": pytest.approx(1.0), "hungarian_accuracy": pytest.approx(1.0)}


def test_sparse_codes_cluster_without_densifying() -> None:
    y = np.repeat(np.arange(3), 40)
    idx = np.stack([y * 4 + j for j in range(4)], axis=1).astype(np.int16)
    codes = SparseCodes(idx, np.ones((120, 4), np.float32), 12)
    assert hungarian_accuracy(y, cluster(codes, 3, seed=0)) == 1.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="equal length"):
        hungarian_accuracy(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="no labels"):
        v_measure(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="labels for"):
        clustering_scores(np.ones((5, 2), np.float32), np.zeros(4))
    with pytest.raises(ValueError, match="method"):
        cluster(np.ones((5, 2), np.float32), 2, method="dbscan")  # type: ignore[arg-type]
