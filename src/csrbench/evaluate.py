"""The work behind the `evaluate` rule: every metric an experiment's data supports.

Which metrics run follows from the data, not from a per-dataset switch:
- a labelled `image` field: 1-NN top-1 (database = train, queries = eval split, exact
  search on L2-normalised codes) and the linear probe;
- relevance from `query` to `doc`: retrieval nDCG@10, Recall@{1,10,100}, MRR@10 of the
  eval split's queries against its documents, or against a corpus of every split's
  documents (`corpus`; cosine on codes);
- relevance from `text` to `image`: Recall@{1,5,10} in both directions;
- a labelled text field (`doc` or `text`): classification accuracy (train -> eval) and
  clustering (V-measure, Hungarian accuracy) of the eval split.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench import metrics
from csrbench.atomic import atomic_path, write_json
from csrbench.codes import SparseCodes
from csrbench.codesdir import CodesDir, database_record, search_roles
from csrbench.devices import hardware_info
from csrbench.retrieval import rows, search
from csrbench.store import load_split

RETRIEVAL_DEPTH = 100


def evaluate_job(
    codes_dir: str | Path,
    embeddings: dict[str, str | Path],
    train_split: str,
    eval_split: str,
    out_path: str | Path,
    linear_probe: bool = True,
    experiment: str | None = None,
    seed: int = 0,
    items_path: str | Path | None = None,
    corpus: Sequence[str] = (),
) -> dict[str, Any]:
    """Score one (method, budget, seed) of an experiment and write one JSON.

    `corpus`: further splits whose documents join the eval split's as the retrieval
    database (`SearchRoles.database_splits`; the experiment's `corpus: all`).

    With `items_path`, the per-item scores behind each mean (per query: nDCG@10, MRR@10,
    Recall@10; per test image or document: 1-NN, probe and classification hits) go to an
    `.npz` there, for the paired tests that compare methods item by item.
    """
    encoded = CodesDir.read(codes_dir)
    train = load_split(embeddings[train_split])
    test = load_split(embeddings[eval_split])
    result: dict[str, Any] = {
        "experiment": experiment,
        "method": encoded.method,
        "k": encoded.k,
        "sparse": encoded.sparse,
        "bytes_per_doc": encoded.bytes_per_doc,
        "active_dims": encoded.active_dims,
        "n": {
            s: {f: int(x.x.shape[0]) for f, x in sp.fields.items()}
            for s, sp in ((train_split, train), (eval_split, test))
        },
        "seed": seed,
        # how the training split was carved (validation rows removed), for the record
        "validation": (train.provenance or {}).get("data", {}).get("validation"),
        "metrics": {},
        "seconds": {},
        "hardware": hardware_info(),
    }
    scores, seconds = result["metrics"], result["seconds"]
    items: dict[str, np.ndarray] = {}

    def codes(split: str, field: str) -> SparseCodes | np.ndarray:
        return encoded.load(split, field)

    image = test.fields.get("image")
    if image is not None and image.labels is not None and "image" in train.fields:
        # database = train, queries = eval split, for both image metrics
        image_args = (
            codes(train_split, "image"),
            train.field("image").labels,
            codes(eval_split, "image"),
            image.labels,
        )
        t = time.perf_counter()
        items["knn1_top1"] = metrics.nearest_neighbor_hits(*image_args)
        seconds["knn1"] = time.perf_counter() - t
        if linear_probe:
            t = time.perf_counter()
            items["linear_probe_top1"] = metrics.linear_probe_hits(*image_args)
            seconds["linear_probe"] = time.perf_counter() - t

    rel = test.relevance
    db_splits = search_roles(rel).database_splits(train_split, eval_split, corpus)
    if rel is not None and (rel.source, rel.target) == ("query", "doc"):
        t = time.perf_counter()
        queries = metrics.l2_normalize(codes(eval_split, "query"))
        docs = metrics.l2_normalize(encoded.load_rows(db_splits, "doc"))
        result["database"] = database_record(db_splits, "doc", rows(docs))
        depth = min(RETRIEVAL_DEPTH, rows(docs))
        _, ranked = search(None, docs, queries, depth)
        per_query = metrics.retrieval_scores(ranked, rel, per_query=True)
        scores["n_queries"] = per_query.pop("n_queries")
        items.update(per_query)  # type: ignore[arg-type]
        seconds["retrieval"] = time.perf_counter() - t
    if rel is not None and (rel.source, rel.target) == ("text", "image"):
        t = time.perf_counter()
        scores.update(
            metrics.crossmodal_recall(codes(eval_split, "image"), codes(eval_split, "text"), rel)
        )
        seconds["crossmodal"] = time.perf_counter() - t

    for name in ("doc", "text"):
        field = test.fields.get(name)
        if field is None or field.labels is None or name not in train.fields:
            continue
        if train.field(name).labels is None:
            continue
        t = time.perf_counter()
        items["classification_accuracy"] = metrics.classification_hits(
            codes(train_split, name),
            train.field(name).labels,
            codes(eval_split, name),
            field.labels,
        )
        scores.update(metrics.clustering_scores(codes(eval_split, name), field.labels))
        seconds["classification_clustering"] = time.perf_counter() - t
        break

    for name, values in items.items():
        scores[name] = float(np.asarray(values, dtype=np.float64).mean())
    if not scores:
        raise ValueError(
            f"no metric applies to the fields {sorted(test.fields)} of {embeddings[eval_split]}: "
            "image metrics need a labelled 'image' field, retrieval a query->doc relevance, "
            "image-text a text->image relevance, classification a labelled 'doc' or 'text'"
        )
    result["metrics"] = {k: _plain(v) for k, v in sorted(scores.items())}
    if items_path is not None:
        with atomic_path(items_path) as tmp:
            np.savez(tmp, **{k: np.asarray(v) for k, v in items.items()})
    write_json(Path(out_path), result)
    return result


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v
