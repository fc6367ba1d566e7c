"""Evaluation metrics of the paper's three settings, on dense arrays or SparseCodes.

- image: `nearest_neighbor_accuracy` (1-NN top-1, exact search), `linear_probe_accuracy`
- text: `retrieval_scores` (nDCG@10, Recall@k, MRR@10, trec_eval conventions),
  `classification_accuracy`, `clustering_scores` (V-measure, Hungarian accuracy)
- image-text: `crossmodal_recall` (Recall@{1,5,10}, both directions)
"""

from csrbench.metrics.classification import (
    classification_accuracy,
    classification_hits,
    linear_probe_accuracy,
    linear_probe_hits,
    logistic_accuracy,
    logistic_hits,
)
from csrbench.metrics.clustering import cluster, clustering_scores, hungarian_accuracy, v_measure
from csrbench.metrics.crossmodal import (
    crossmodal_recall,
    crossmodal_recall_from_rankings,
    recall_at,
)
from csrbench.metrics.knn import (
    knn_accuracy,
    knn_hits,
    l2_normalize,
    nearest_neighbor_accuracy,
    nearest_neighbor_hits,
    vote,
)
from csrbench.metrics.retrieval import judged_grades, retrieval_scores

__all__ = [
    "classification_accuracy",
    "classification_hits",
    "cluster",
    "clustering_scores",
    "crossmodal_recall",
    "crossmodal_recall_from_rankings",
    "hungarian_accuracy",
    "judged_grades",
    "knn_accuracy",
    "knn_hits",
    "l2_normalize",
    "linear_probe_accuracy",
    "linear_probe_hits",
    "logistic_accuracy",
    "logistic_hits",
    "nearest_neighbor_accuracy",
    "nearest_neighbor_hits",
    "recall_at",
    "retrieval_scores",
    "v_measure",
    "vote",
]
