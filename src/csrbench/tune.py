"""The work behind the `tune` rule: a method's settings chosen on the validation split.

For one (experiment, method), every combination of the config's grid (`tune.<method>`
in the experiment) is fitted on the training split at the tuning budget k and scored on
the validation split by the experiment's primary metric; the best combination (the
first one on a tie, so the grid's order breaks ties) is what `train` then uses at every
k and seed. The test split is not an input of this job, by construction (the workflow
passes only the train and val embedding directories, and a test checks that).

Every trained method gets a grid of the same size (the config is refused otherwise), so
no method wins by having been tuned harder.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench import metrics
from csrbench.atomic import write_json
from csrbench.devices import hardware_info
from csrbench.store import SplitEmbeddings, load_split


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, keys varying slowest-first in grid order."""
    for key, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"tune grid {key!r} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _codes(fitted: Any, split: SplitEmbeddings, field: str, k: int | None) -> Any:
    return fitted.encode(np.asarray(split.field(field).x), k=k)


def validation_score(
    fitted: Any, k: int | None, fit: SplitEmbeddings, val: SplitEmbeddings
) -> tuple[str, float]:
    """(metric name, value) of the experiment's primary metric on the validation split.

    Query -> doc data: nDCG@10 of the validation queries against the validation
    documents. Labelled images: 1-NN top-1 of validation images against the training
    images (the test protocol, moved one split earlier). Text -> image: the mean of
    image->text and text->image Recall@5.
    """
    from csrbench.retrieval import search

    rel = val.relevance
    if rel is not None and (rel.source, rel.target) == ("query", "doc"):
        queries = metrics.l2_normalize(_codes(fitted, val, "query", k))
        docs = metrics.l2_normalize(_codes(fitted, val, "doc", k))
        _, ranked = search(None, docs, queries, min(10, val.field("doc").x.shape[0]))
        return "ndcg@10", float(metrics.retrieval_scores(ranked, rel, (), (10,), ())["ndcg@10"])
    image = val.fields.get("image")
    if image is not None and image.labels is not None and "image" in fit.fields:
        acc = metrics.nearest_neighbor_accuracy(
            _codes(fitted, fit, "image", k),
            fit.field("image").labels,
            _codes(fitted, val, "image", k),
            image.labels,
        )
        return "knn1_top1", float(acc)
    if rel is not None and (rel.source, rel.target) == ("text", "image"):
        r = metrics.crossmodal_recall(
            _codes(fitted, val, "image", k), _codes(fitted, val, "text", k), rel, (5,)
        )
        return "recall@5", float((r["i2t_recall@5"] + r["t2i_recall@5"]) / 2)
    raise ValueError(
        f"no validation metric applies to the fields {sorted(val.fields)}: tuning needs "
        "query->doc relevance, a labelled 'image' field, or text->image relevance"
    )


def tune_job(
    train_dir: str | Path,
    val_dir: str | Path,
    spec: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    out_path: str | Path,
) -> dict[str, Any]:
    """Fit every grid point at `spec["k"]`, score it on validation, write the choice.

    `spec` is the train rule's spec (method, k, modality, seed, device, overrides):
    the grid's values override the config's `method_params` for each trial.
    """
    from csrbench.methods import fit, params_for_split
    from csrbench.methods.params import EXPERIMENT_MODALITY

    fit_split, val_split = load_split(train_dir), load_split(val_dir)
    trials = []
    for point in expand_grid(grid):
        params = params_for_split(
            spec["method"],
            fit_split,
            {**spec["overrides"], **point},
            EXPERIMENT_MODALITY[spec["modality"]],
        )
        start = time.perf_counter()
        fitted = fit(spec["method"], spec["k"], fit_split, params, spec["device"], spec["seed"])
        name, score = validation_score(fitted, spec["k"], fit_split, val_split)
        trials.append({"params": point, "score": score, "fit_seconds": time.perf_counter() - start})
    best = max(range(len(trials)), key=lambda i: (trials[i]["score"], -i))
    result = {
        "method": spec["method"],
        "k": spec["k"],
        "seed": spec["seed"],
        "metric": name,
        "split": "val",
        "n_trials": len(trials),
        "trials": trials,
        "chosen": trials[best]["params"],
        "score": trials[best]["score"],
        "embeddings": {"train": str(train_dir), "val": str(val_dir)},
        "validation": (val_split.provenance or {}).get("data", {}).get("validation"),
        "hardware": hardware_info(),
    }
    write_json(out_path, result)
    return result
