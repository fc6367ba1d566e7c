"""Any MTEB retrieval, classification or clustering task, loaded through `mteb` itself.

The paper's text results (Table 1) are MTEB tasks (FiQA, NFCorpus, SciFact, ...).
Going through `mteb.get_task(...).load_data()` means the exact dataset revision,
subsets and the task's own transforms (e.g. its stratified test subsample) match what
`mteb` evaluates, while the fields and relevance come out in csrbench's shape:

- retrieval (incl. reranking): fields "query" and "doc" (text), graded relevance from
  the task's qrels (grades <= 0 dropped); a document reads "title text" and a query
  "text instruction", as mteb feeds them to a model;
- classification: field "text" with labels;
- clustering (legacy batches flattened, fast/hierarchical at the top level): field
  "text" with labels.

`task` is a registered task name, or "package.module:ClassName" for a user's own
`AbsTask` subclass (e.g. one whose `load_data` reads local files). The data comes from
the Hugging Face hub (or its local cache); without either, loading raises DataError.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from csrbench.data.base import DataError, Field, Relevance, Split
from csrbench.data.splitting import (
    check_limit,
    check_split,
    config_key,
    label_ids,
    reject_unknown_params,
    stratified_subsample,
    subsample_relevance,
)

if TYPE_CHECKING:
    from mteb.abstasks import AbsTask

PARAMS = ("name", "task", "subset", "splits", "eval_split", "limit", "seed")


def task_from_spec(spec: str) -> AbsTask:
    """Instantiate an MTEB task: a registry name, or `module:Class` for a custom AbsTask.

    Raises ValueError saying what is wrong and what to pass instead; callers prefix it
    with where the spec came from (a config key, a command-line flag).
    """
    import mteb
    from mteb.abstasks import AbsTask

    if ":" in spec:
        module_name, _, class_name = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"cannot import {spec!r} ({err}); use 'package.module:ClassName' for "
                "a custom mteb AbsTask subclass, or a registered task name"
            ) from err
        if not (isinstance(cls, type) and issubclass(cls, AbsTask)):
            raise ValueError(f"{spec!r} is not an mteb AbsTask subclass")
        return cls()
    try:
        return mteb.get_task(spec)
    except KeyError as err:
        hint = str(err.args[0]) if err.args else ""
        raise ValueError(
            f"unknown MTEB task {spec!r} ({hint}); list the names with "
            "`python -c 'import mteb; print(mteb.get_tasks())'`"
        ) from err


def _get_task(spec: Any, name: str | None) -> AbsTask:
    """The configured task; errors name the config key."""
    key = config_key(name, "task")
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"{key} is required: an MTEB task name such as 'SciFact'")
    try:
        return task_from_spec(spec)
    except ValueError as err:
        raise DataError(f"{key}: {err}") from err


def _kind(task: AbsTask) -> str:
    from mteb.abstasks import AbsTaskRetrieval
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.clustering import AbsTaskClustering
    from mteb.abstasks.clustering_legacy import AbsTaskClusteringLegacy
    from mteb.abstasks.multilabel_classification import AbsTaskMultilabelClassification
    from mteb.abstasks.regression import AbsTaskRegression

    if isinstance(task, AbsTaskRetrieval):
        return "retrieval"
    if isinstance(task, AbsTaskMultilabelClassification | AbsTaskRegression):
        return "unsupported"
    if isinstance(task, AbsTaskClassification):
        return "classification"
    if isinstance(task, AbsTaskClustering | AbsTaskClusteringLegacy):
        return "clustering"
    return "unsupported"


def _text_column(task: AbsTask, default: str, name: str | None) -> str:
    column = getattr(task, "input_column_name", default)
    if not isinstance(column, str) or task.metadata.modalities != ["text"]:
        raise DataError(
            f"{config_key(name, 'task')}: {task.metadata.name} is not a text-only task "
            f"(modalities {task.metadata.modalities}); only text MTEB tasks load here"
        )
    return column


def _retrieval(
    data: Mapping[str, Any], limit: int | None, seed: int, name: str | None
) -> tuple[dict[str, Field], Relevance, dict[str, Any]]:
    corpus, queries, qrels = data["corpus"], data["queries"], data["relevant_docs"]
    doc_ids = [str(x) for x in corpus["id"]]
    bodies = corpus["text"]
    titles = corpus["title"] if "title" in corpus.column_names else [None] * len(doc_ids)
    query_ids = [str(x) for x in queries["id"]]
    query_texts = queries["text"]
    if query_texts and not isinstance(query_texts[0], str):
        raise DataError(
            f"{config_key(name, 'task')}: queries are conversations, not text; "
            "conversational retrieval tasks are not supported"
        )
    if "instruction" in queries.column_names:
        query_texts = [
            f"{t} {i}" if i else t for t, i in zip(query_texts, queries["instruction"], strict=True)
        ]
    docs = [
        f"{t} {b}".strip() if t else str(b).strip() for t, b in zip(titles, bodies, strict=True)
    ]

    doc_row: dict[str, int] = {}
    for row, doc_id in enumerate(doc_ids):
        doc_row.setdefault(doc_id, row)
    query_row: dict[str, int] = {}
    for row, query_id in enumerate(query_ids):
        query_row.setdefault(query_id, row)
    pairs: list[tuple[int, int, int]] = []
    dropped = {"qrels_unknown_doc": 0, "qrels_unknown_query": 0, "qrels_nonpositive": 0}
    for query_id, judged in qrels.items():
        if str(query_id) not in query_row:
            dropped["qrels_unknown_query"] += len(judged)
            continue
        for doc_id, score in judged.items():
            if score is None or float(score) <= 0:
                dropped["qrels_nonpositive"] += 1
            elif str(doc_id) not in doc_row:
                dropped["qrels_unknown_doc"] += 1
            else:
                grade = max(1, round(float(score)))
                pairs.append((query_row[str(query_id)], doc_row[str(doc_id)], grade))
    if not pairs:
        raise DataError(
            f"{config_key(name, 'task')}: the split has no positive relevance judgements "
            "between its queries and corpus"
        )
    pair_arr = np.array(sorted(pairs), dtype=np.int64)
    # Keep the queries that have an answer (as mteb scores them) and every unique document.
    judged_queries = np.unique(pair_arr[:, 0])
    unique_docs = np.array(sorted(doc_row.values()), dtype=np.int64)
    q_pos = np.full(len(query_ids), -1, dtype=np.int64)
    q_pos[judged_queries] = np.arange(len(judged_queries))
    d_pos = np.full(len(doc_ids), -1, dtype=np.int64)
    d_pos[unique_docs] = np.arange(len(unique_docs))
    pair_arr = np.stack([q_pos[pair_arr[:, 0]], d_pos[pair_arr[:, 1]], pair_arr[:, 2]], 1)
    q_rows, d_rows, pair_arr = subsample_relevance(
        len(judged_queries), len(unique_docs), pair_arr, limit, seed
    )
    q_rows, d_rows = judged_queries[q_rows], unique_docs[d_rows]
    fields = {
        "query": Field(
            "query", "text", [query_texts[i] for i in q_rows], np.array(query_ids)[q_rows]
        ),
        "doc": Field("doc", "text", [docs[i] for i in d_rows], np.array(doc_ids)[d_rows]),
    }
    stats = {
        "n_queries_in_task": len(query_ids),
        "n_docs_in_task": len(doc_ids),
        "n_queries": len(q_rows),
        "n_docs": len(d_rows),
        "n_pairs": len(pair_arr),
        "grades": sorted({int(g) for g in pair_arr[:, 2]}),
        **dropped,
    }
    return fields, Relevance("query", "doc", pair_arr), stats


def _labelled_text(
    texts: Sequence[Any],
    labels: Sequence[Any],
    all_labels: Sequence[Any],
    ids: Sequence[str],
    limit: int | None,
    seed: int,
) -> tuple[dict[str, Field], dict[str, Any]]:
    """A "text" field with labels mapped consistently over every split of the task."""
    if all(isinstance(x, int | np.integer) and not isinstance(x, bool) for x in all_labels):
        label_arr = np.asarray(labels, dtype=np.int64)
        names: list[Any] | None = None
    else:
        _, names = label_ids([str(x) for x in all_labels])
        index = {c: i for i, c in enumerate(names)}
        label_arr = np.array([index[str(x)] for x in labels], dtype=np.int64)
    rows = stratified_subsample(label_arr, limit, seed=seed)
    field = Field(
        "text", "text", [str(texts[i]) for i in rows], np.asarray(ids)[rows], label_arr[rows]
    )
    stats: dict[str, Any] = {"n_before_limit": len(texts), "n": len(rows)}
    stats["n_classes"] = len(np.unique(label_arr))
    if names is not None:
        stats["label_names"] = names
    return {"text": field}, stats


def _first_level(label: Any) -> Any:
    """Hierarchical clustering labels are lists (coarse to fine): keep the top level."""
    return label[0] if isinstance(label, list | tuple) else label


def load(
    split: str,
    *,
    name: str | None = None,
    task: str | None = None,
    subset: str | None = None,
    splits: Mapping[str, str] | None = None,
    eval_split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    **unknown: Any,
) -> Split:
    """Load one split of an MTEB task.

    `splits` maps our split names to the task's splits (default train -> the task's
    train split, test -> `eval_split` or the task's first eval split). `subset` picks
    the hf_subset of a multilingual task (e.g. "en"). `limit` keeps a label-stratified
    sample (classification, clustering) or a sample of judged queries with their
    relevant documents plus distractors (retrieval).
    """
    reject_unknown_params("mteb", unknown, PARAMS, name)
    limit = check_limit(limit, name)
    task_obj = _get_task(task, name)
    meta = task_obj.metadata
    kind = _kind(task_obj)
    if kind == "unsupported":
        raise DataError(
            f"{config_key(name, 'task')}: {meta.name} is a {meta.type} task; this loader "
            "supports Retrieval/Reranking, Classification and Clustering tasks"
        )
    if splits is None:
        splits = {
            "train": getattr(task_obj, "train_split", "train"),
            "test": eval_split or meta.eval_splits[0],
        }
    elif eval_split is not None:
        raise DataError(
            f"{config_key(name, 'eval_split')} and {config_key(name, 'splits')} are both set; "
            "set the test split inside splits instead"
        )
    check_split(split, splits, name)
    mteb_split = splits[split]

    available = list(task_obj.hf_subsets)
    if subset is None:
        if len(available) != 1:
            raise DataError(
                f"{config_key(name, 'subset')} is required for the multilingual task "
                f"{meta.name}; choose one of {available}"
            )
        subset = available[0]
    elif subset not in available:
        raise DataError(
            f"{config_key(name, 'subset')}: {meta.name} has no subset {subset!r}; "
            f"choose one of {available}"
        )
    task_obj.hf_subsets = [subset]
    task_obj.filter_eval_splits([mteb_split])
    try:
        task_obj.load_data()
    except DataError:
        raise
    except Exception as err:
        raise DataError(
            f"{config_key(name, 'task')}: could not load MTEB task {meta.name} "
            f"(subset {subset!r}, split {mteb_split!r}): {type(err).__name__}: {err}. mteb "
            "reads task data from the Hugging Face hub: this needs network access or the "
            "dataset in the local HF cache; check the split exists "
            f"({config_key(name, 'splits')})"
        ) from err

    dataset = task_obj.dataset
    part = dataset[subset] if subset in dataset and mteb_split not in dataset else dataset
    if mteb_split not in part:
        raise DataError(
            f"{config_key(name, 'splits')}.{split}: {meta.name} has no split {mteb_split!r}; "
            f"it has {sorted(part)}"
        )
    data = part[mteb_split]
    relevance = None
    if kind == "retrieval":
        fields, relevance, stats = _retrieval(data, limit, seed, name)
    elif kind == "classification":
        text_col = _text_column(task_obj, "text", name)
        label_col = task_obj.label_column_name
        all_labels = [y for s in part for y in part[s][label_col]]
        texts, labels = data[text_col], data[label_col]
        ids = [str(x) for x in data["id"]] if "id" in data.column_names else None
        if ids is None or len(set(ids)) != len(ids):
            ids = [f"{mteb_split}-{i}" for i in range(len(texts))]
        fields, stats = _labelled_text(texts, labels, all_labels, ids, limit, seed)
    else:
        text_col = _text_column(task_obj, "sentences", name)
        label_col = task_obj.label_column_name
        texts_col, labels_col = data[text_col], data[label_col]
        if texts_col and isinstance(texts_col[0], list):  # legacy: one row per cluster batch
            texts = [t for batch in texts_col for t in batch]
            labels = [_first_level(y) for batch in labels_col for y in batch]
            ids = [f"{b}-{i}" for b, batch in enumerate(texts_col) for i in range(len(batch))]
            all_labels = labels
        else:
            texts, labels = list(texts_col), [_first_level(y) for y in labels_col]
            ids = [str(i) for i in range(len(texts))]
            all_labels = labels
        fields, stats = _labelled_text(texts, labels, all_labels, ids, limit, seed)

    import mteb

    return Split(
        dataset=name or meta.name,
        split=split,
        fields=fields,
        relevance=relevance,
        provenance={
            "loader": "mteb",
            "source": f"mteb task {meta.name}",
            "mteb_version": mteb.__version__,
            "task": meta.name,
            "task_type": meta.type,
            "kind": kind,
            "hf_dataset": {k: str(v) for k, v in dict(meta.dataset).items()},
            "subset": subset,
            "mteb_split": mteb_split,
            "main_score": meta.main_score,
            "params": {"splits": dict(splits), "limit": limit, "seed": seed},
            **stats,
        },
    )
