"""mteb: MTEB tasks through the `mteb` package, on data built here in mteb's own format.

The hub is unreachable here, so each task's `load_data` fills `self.dataset` exactly as
mteb 2.x's loaders do (retrieval: {subset: {split: {corpus, queries, relevant_docs,
top_ranked}}}; classification and clustering: {split: Dataset} or {subset: {split:
Dataset}}), and the loader is pointed at it by "module:Class" or, for a registered
task, by name with `load_data` patched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from mteb.abstasks import AbsTaskRetrieval
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.task_metadata import TaskMetadata

from csrbench.data import DataError, load_split
from csrbench.data.mteb_task import load

GENERAL = {
    "description": "csrbench test task built in memory.",
    "reference": "https://github.com/embeddings-benchmark/mteb",
    "dataset": {"path": "NA", "revision": "NA"},
    "category": "t2t",
    "eval_splits": ["test"],
    "eval_langs": ["eng-Latn"],
    "date": ("2024-01-01", "2024-01-02"),
    "dialect": [],
    "domains": [],
    "task_subtypes": [],
    "license": "cc-by-4.0",
    "annotations_creators": "derived",
    "modalities": ["text"],
    "sample_creation": "found",
    "bibtex_citation": "",
}

N_DOCS = 40


def retrieval_split(n_queries: int, offset: int) -> dict[str, Any]:
    """Queries q{i}: doc d{i} grade 2, doc d{i+1} grade 1, doc d{i+2} grade 0 (not relevant)."""
    queries = Dataset.from_list(
        [{"id": f"q{offset + i}", "text": f"question {offset + i}"} for i in range(n_queries)]
        + [{"id": "q-unjudged", "text": "nobody answered this"}]
    )
    corpus = Dataset.from_list(
        [
            {"id": f"d{j}", "title": f"T{j}" if j % 2 else "", "text": f"body {j}"}
            for j in range(N_DOCS)
        ]
    )
    qrels = {
        f"q{offset + i}": {f"d{i}": 2, f"d{i + 1}": 1, f"d{i + 2}": 0, "d-missing": 1}
        for i in range(n_queries)
    }
    return {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": None}


class LocalRetrieval(AbsTaskRetrieval):
    """A retrieval task with train and test splits, graded qrels and titles."""

    metadata = TaskMetadata(
        type="Retrieval", name="CsrbenchLocalRetrieval", main_score="ndcg_at_10", **GENERAL
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        self.dataset = {
            "default": {"train": retrieval_split(12, 100), "test": retrieval_split(30, 0)}
        }
        self.data_loaded = True


class LocalClassification(AbsTaskClassification):
    """String labels: train has a and b, test also c (the mapping spans both splits)."""

    metadata = TaskMetadata(
        type="Classification", name="CsrbenchLocalClassification", main_score="accuracy", **GENERAL
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        self.dataset = DatasetDict(
            {
                "train": Dataset.from_dict(
                    {"text": [f"train {i}" for i in range(30)], "label": ["b", "a", "a"] * 10}
                ),
                "test": Dataset.from_dict(
                    {"text": [f"test {i}" for i in range(9)], "label": ["c", "b", "a"] * 3}
                ),
            }
        )
        self.data_loaded = True


class LocalHierarchicalClustering(AbsTaskClustering):
    """Fast clustering with hierarchical labels [coarse, fine]."""

    metadata = TaskMetadata(
        type="Clustering", name="CsrbenchLocalClustering", main_score="v_measure", **GENERAL
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        self.dataset = DatasetDict(
            {
                "test": Dataset.from_dict(
                    {
                        "sentences": [f"s{i}" for i in range(12)],
                        "labels": [[i % 2, i % 4] for i in range(12)],
                    }
                )
            }
        )
        self.data_loaded = True


class UnreachableRetrieval(LocalRetrieval):
    """Loading fails as it does offline."""

    metadata = TaskMetadata(
        type="Retrieval", name="CsrbenchUnreachable", main_score="ndcg_at_10", **GENERAL
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'mteb/x' on the Hub")


def spec(cls: type) -> str:
    return f"{__name__}:{cls.__name__}"


def test_retrieval_fields_and_graded_qrels() -> None:
    split = load("test", name="local", task=spec(LocalRetrieval))
    query, doc, rel = split.fields["query"], split.fields["doc"], split.relevance
    assert query.kind == doc.kind == "text"
    assert len(query.items) == 30  # the unjudged query is dropped
    assert "q-unjudged" not in set(query.ids)
    assert len(doc.items) == N_DOCS
    assert doc.items[0] == "body 0" and doc.items[1] == "T1 body 1"  # title + text
    assert rel.pairs.shape == (60, 3)  # grade-0 and unknown-doc judgements dropped
    lookup = {(query.ids[s], doc.ids[t]): g for s, t, g in rel.pairs}
    assert lookup[("q5", "d5")] == 2 and lookup[("q5", "d6")] == 1 and ("q5", "d7") not in lookup
    prov = split.provenance
    assert prov["qrels_nonpositive"] == 30 and prov["qrels_unknown_doc"] == 30
    assert prov["mteb_split"] == "test" and prov["kind"] == "retrieval"
    assert prov["mteb_version"] == "2.26.24"


def test_retrieval_train_split_and_limit() -> None:
    train = load_split("mteb", "train", {"task": spec(LocalRetrieval)})
    assert len(train.fields["query"].items) == 12
    small = load("test", task=spec(LocalRetrieval), limit=5)
    query, doc, pairs = small.fields["query"], small.fields["doc"], small.relevance.pairs
    assert len(query.items) == 5
    assert len(doc.items) >= 5
    assert len(pairs) == 10  # every kept query keeps both its relevant docs
    for s, t, _ in pairs:
        qi, dj = int(query.ids[s][1:]), int(doc.ids[t][1:])
        assert dj in (qi, qi + 1)
    again = load("test", task=spec(LocalRetrieval), limit=5)
    np.testing.assert_array_equal(again.fields["doc"].ids, doc.ids)


def test_classification_labels_shared_across_splits() -> None:
    train = load("train", task=spec(LocalClassification))
    test = load("test", task=spec(LocalClassification))
    assert train.provenance["label_names"] == test.provenance["label_names"] == ["a", "b", "c"]
    assert train.fields["text"].labels[:3].tolist() == [1, 0, 0]
    assert test.fields["text"].labels[:3].tolist() == [2, 1, 0]
    assert test.relevance is None and test.fields["text"].items[0] == "test 0"
    small = load("train", task=spec(LocalClassification), limit=6)
    assert np.bincount(small.fields["text"].labels).tolist() == [4, 2]


def test_clustering_uses_top_level_labels() -> None:
    split = load("test", task=spec(LocalHierarchicalClustering))
    assert split.fields["text"].labels.tolist() == [i % 2 for i in range(12)]
    with pytest.raises(DataError, match=r"has no split 'train'; it has \['test'\]"):
        load("train", task=spec(LocalHierarchicalClustering))


def test_mteb_shipped_mock_tasks() -> None:
    legacy = load("test", task="mteb.mocks.mock_tasks.clustering:MockClusteringTask")
    assert legacy.fields["text"].labels.tolist() == [0, 1, 2]  # batches flattened
    multi = "mteb.mocks.mock_tasks.classification:MockMultilingualClassificationTask"
    with pytest.raises(DataError, match=r"datasets\.m\.params\.subset is required.*'eng', 'fra'"):
        load("test", name="m", task=multi)
    assert load("test", task=multi, subset="fra").provenance["subset"] == "fra"


def test_registered_task_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import mteb

    scifact = type(mteb.get_task("SciFact"))
    monkeypatch.setattr(scifact, "load_data", LocalRetrieval.load_data)
    split = load("test", name="scifact", task="SciFact", eval_split="test")
    assert split.dataset == "scifact"
    assert split.provenance["task"] == "SciFact"
    assert split.provenance["hf_dataset"]["path"] == "mteb/scifact"
    assert len(split.fields["query"].items) == 30


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"task": "SciFactt"},
            r"datasets\.ds\.params\.task: unknown MTEB task 'SciFactt'.*SciFact",
        ),
        ({}, r"datasets\.ds\.params\.task is required"),
        ({"task": "no_such_module:Task"}, r"datasets\.ds\.params\.task: cannot import"),
        ({"task": "mteb.mocks.mock_tasks.sts:MockSTSTask"}, r"is a STS task"),
        ({"task": spec(UnreachableRetrieval)}, r"could not load MTEB task .*ConnectionError.*hub"),
        ({"task": spec(LocalRetrieval), "subset": "en"}, r"params\.subset.*\['default'\]"),
        ({"task": spec(LocalRetrieval), "splits": {"test": "dev"}}, r"has no split 'dev'"),
        ({"task": spec(LocalRetrieval), "tsak": 1}, r"unknown param.*tsak"),
    ],
)
def test_errors_name_the_key(params: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load("test", name="ds", **params)
