"""Each fine-tune checkpoint's headline test score at every budget: MRL's accuracy
against its training time, the paper's Fig. 1c drawn honestly (the fine-tune is scored
at several points of its training, CSR at its one fit).

Scores are computed exactly as `evaluate` computes them for mrl-ft (prefixes stored
in mrl-ft's code dtype, float16 by default, then L2-normalised, exact search), on only
the fields the headline metric reads: retrieval reads the eval split's queries and the
database's documents, 1-NN the training and eval images. The validation-chosen
checkpoint is read from the embeddings `embed_finetuned` made of it for `evaluate` (not
embedded twice), so it scores the same here and there; the other checkpoints are
embedded here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench import metrics, store
from csrbench.atomic import write_json
from csrbench.backbones import build_backbone
from csrbench.codesdir import search_roles
from csrbench.data.base import Split
from csrbench.evaluate import RETRIEVAL_DEPTH
from csrbench.finetune.job import load_dataset_split
from csrbench.finetune.params import FinetuneError
from csrbench.retrieval import search


def headline(split: Split) -> str:
    """The metric the curve tracks: nDCG@10 where there is query->doc relevance, else
    1-NN top-1 of a labelled image field."""
    rel = split.relevance
    if rel is not None and (rel.source, rel.target) == ("query", "doc"):
        return "ndcg@10"
    if "image" in split.fields and split.fields["image"].labels is not None:
        return "knn1_top1"
    raise FinetuneError(
        f"split {split.split!r} has neither query->doc relevance nor labelled images: the "
        "fine-tune curve has no metric to track"
    )


# (split name, field name) -> that field's embeddings, [n, d] float32
Embedder = Callable[[str, str], np.ndarray]


def backbone_embedder(backbone: Any, splits: dict[str, Split], batch_size: int) -> Embedder:
    """Embed a field of the raw splits with a checkpoint's backbone."""
    return lambda split, field: np.concatenate(
        list(backbone.embed(splits[split].fields[field], batch_size))
    )


def stored_embedder(dirs: dict[str, str | Path]) -> Embedder:
    """Read a field from finished split directories (`embed_finetuned`'s, for the
    chosen checkpoint: embedded once, for `evaluate`, and read here again)."""
    return lambda split, field: np.asarray(store.load_split(dirs[split]).field(field).x)


def checkpoint_scores(
    embed: Embedder,
    splits: dict[str, Split],
    train_split: str,
    eval_split: str,
    corpus: Sequence[str],
    ks: Sequence[int],
    value_dtype: str = "float16",
) -> dict[str, Any]:
    """{metric, scores: {k: value}} of one backbone's prefixes (fractions, as
    `evaluate` writes them). Prefixes are rounded to `value_dtype` first, as mrl-ft's
    codes are stored: near-ties resolve as they do in `evaluate`."""

    def prefix(x: np.ndarray, k: int) -> np.ndarray:
        return x[:, :k].astype(value_dtype)

    test = splits[eval_split]
    metric = headline(test)
    scores: dict[int, float] = {}
    if metric == "ndcg@10":
        rel = test.relevance
        assert rel is not None
        db_splits = search_roles(rel).database_splits(train_split, eval_split, corpus)
        queries = embed(eval_split, "query")
        docs = np.concatenate([embed(s, "doc") for s in db_splits])
        for k in ks:
            q = metrics.l2_normalize(prefix(queries, k))
            d = metrics.l2_normalize(prefix(docs, k))
            _, ranked = search(None, d, q, min(RETRIEVAL_DEPTH, d.shape[0]))
            scores[k] = float(metrics.retrieval_scores(ranked, rel)["ndcg@10"])
    else:
        train = splits[train_split]
        db, qs = embed(train_split, "image"), embed(eval_split, "image")
        for k in ks:
            hits = metrics.nearest_neighbor_hits(
                prefix(db, k),
                train.fields["image"].labels,
                prefix(qs, k),
                test.fields["image"].labels,
            )
            scores[k] = float(np.mean(hits))
    return {"metric": metric, "scores": {str(k): v for k, v in scores.items()}}


def curve_job(
    summary: dict[str, Any],
    dataset: dict[str, Any],
    dataset_name: str,
    train_split: str,
    eval_split: str,
    corpus: Sequence[str],
    ks: Sequence[int],
    embed: dict[str, Any],
    out_path: str | Path,
    chosen_dirs: dict[str, str | Path] | None = None,
    value_dtype: str = "float16",
) -> dict[str, Any]:
    """Score every checkpoint of one fine-tune (`summary`, as the loop wrote it); the
    validation-chosen one from `chosen_dirs` ({split: embeddings dir}) where given.
    `value_dtype`: mrl-ft's code dtype (its `value_dtype` parameter)."""
    # raw splits are cheap to load; only the fields the metric reads are embedded
    needed = {train_split, eval_split, *corpus}
    splits = {s: load_dataset_split(dataset, dataset_name, s) for s in sorted(needed)}
    points = []
    for ckpt in summary["checkpoints"]:
        chosen = ckpt["step"] == summary["chosen_step"]
        if chosen and chosen_dirs is not None:
            embedder = stored_embedder(chosen_dirs)
        else:
            backbone = build_backbone(ckpt["backbone"], device=embed["device"], amp=embed["amp"])
            embedder = backbone_embedder(backbone, splits, embed["batch_size"])
        result = checkpoint_scores(
            embedder, splits, train_split, eval_split, corpus, ks, value_dtype
        )
        points.append(
            {
                "step": ckpt["step"],
                "fraction": ckpt["fraction"],
                "seconds": ckpt["seconds"],
                "val_loss": ckpt["val_loss"],
                "chosen": chosen,
                **result,
            }
        )
    out = {
        "seed": summary["seed"],
        "metric": points[0]["metric"],
        "split": eval_split,
        "fit_seconds": summary["fit_seconds"],
        "threads": summary["threads"],
        "points": points,
    }
    write_json(Path(out_path), out)
    return out
