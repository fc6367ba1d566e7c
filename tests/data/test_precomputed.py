"""precomputed: a user's own embeddings from .npy files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csrbench.data import DataError, load_split
from csrbench.data.precomputed import load


@pytest.fixture()
def arrays(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "train_x.npy", rng.normal(size=(40, 8)).astype(np.float32))
    np.save(tmp_path / "train_y.npy", np.repeat(np.arange(4), 10))
    np.save(tmp_path / "train_ids.npy", np.array([f"item{i}" for i in range(40)]))
    np.save(tmp_path / "q.npy", rng.normal(size=(30, 8)).astype(np.float16))
    np.save(tmp_path / "d.npy", rng.normal(size=(50, 8)).astype(np.float32))
    # query i -> doc i (grade 2) and doc i + 30 (grade 1) for i < 20; queries 20.. unjudged
    pairs = [(i, i, 2) for i in range(20)] + [(i, i + 30, 1) for i in range(20)]
    np.save(tmp_path / "pairs.npy", np.array(pairs, dtype=np.int64))
    return tmp_path


def _splits(root: Path) -> dict:
    return {
        "train": {
            "fields": {
                "image": {
                    "embeddings": str(root / "train_x.npy"),
                    "labels": str(root / "train_y.npy"),
                    "ids": str(root / "train_ids.npy"),
                }
            }
        },
        "test": {
            "fields": {"query": {"embeddings": "q.npy"}, "doc": {"embeddings": "d.npy"}},
            "relevance": {"source": "query", "target": "doc", "pairs": "pairs.npy"},
        },
    }


def test_fields_are_memory_mapped_vectors(arrays: Path) -> None:
    split = load_split("precomputed", "train", {"splits": _splits(arrays)})
    field = split.fields["image"]
    assert field.kind == "vector" and field.items.shape == (40, 8)
    assert isinstance(field.items, np.memmap)
    np.testing.assert_array_equal(field.items, np.load(arrays / "train_x.npy"))
    assert field.ids[3] == "item3" and field.labels.dtype == np.int64
    assert split.relevance is None
    assert split.provenance["fields"]["image"] == {
        "n": 40,
        "d": 8,
        "dtype": "float32",
        "embeddings": str(arrays / "train_x.npy"),
        "labels": str(arrays / "train_y.npy"),
        "ids": str(arrays / "train_ids.npy"),
    }


def test_relevance_and_relative_paths_under_root(arrays: Path) -> None:
    split = load("test", splits=_splits(arrays), root=str(arrays))
    assert split.fields["query"].items.dtype == np.float16
    assert list(split.fields["doc"].ids[:2]) == ["doc-0", "doc-1"]  # default ids
    assert split.relevance is not None and split.relevance.pairs.shape == (40, 3)


def test_limit_stratified_and_relevance_preserving(arrays: Path) -> None:
    train = load("train", splits=_splits(arrays), limit=8).fields["image"]
    assert np.bincount(train.labels).tolist() == [2, 2, 2, 2]
    test = load("test", splits=_splits(arrays), root=arrays, limit=10)
    query, doc, pairs = test.fields["query"], test.fields["doc"], test.relevance.pairs
    assert len(query.items) == 10  # 10 of the 20 judged queries
    assert len(doc.items) == 20  # their 20 relevant docs (more than limit, all kept)
    full_q, full_d = np.load(arrays / "q.npy"), np.load(arrays / "d.npy")
    for src, tgt, grade in pairs:
        q_orig, d_orig = int(query.ids[src].split("-")[1]), int(doc.ids[tgt].split("-")[1])
        assert d_orig in (q_orig, q_orig + 30) and grade == (2 if d_orig == q_orig else 1)
        np.testing.assert_array_equal(query.items[src], full_q[q_orig])
        np.testing.assert_array_equal(doc.items[tgt], full_d[d_orig])
    assert len(pairs) == 20


def test_errors_name_the_key(arrays: Path) -> None:
    splits = _splits(arrays)
    with pytest.raises(DataError, match=r"datasets\.mine\.params\.splits is required"):
        load("train", name="mine")
    with pytest.raises(DataError, match=r"unknown split 'val'.*\['train', 'test'\]"):
        load("val", name="mine", splits=splits)
    with pytest.raises(DataError, match=r"splits\.test\.fields\.query\.embeddings: no file"):
        load("test", name="mine", splits=splits)  # relative paths without root
    np.save(arrays / "flat.npy", np.zeros(10, dtype=np.float32))
    splits["train"]["fields"]["image"]["embeddings"] = str(arrays / "flat.npy")
    with pytest.raises(DataError, match=r"image\.embeddings must be a 2-D float array"):
        load("train", name="mine", splits=splits)
    splits = _splits(arrays)
    np.save(arrays / "short_y.npy", np.zeros(39, dtype=np.int64))
    splits["train"]["fields"]["image"]["labels"] = str(arrays / "short_y.npy")
    with pytest.raises(DataError, match=r"image\.labels must be a 1-D integer array of length 40"):
        load("train", name="mine", splits=splits)
    splits = _splits(arrays)
    np.save(arrays / "bad_pairs.npy", np.array([[0, 99, 1]], dtype=np.int64))
    splits["test"]["relevance"]["pairs"] = "bad_pairs.npy"
    with pytest.raises(DataError, match=r"relevance\.pairs: rows must index 0\.\.29"):
        load("test", name="mine", splits=splits, root=arrays)
    splits["test"]["relevance"] = {"source": "query", "target": "passage", "pairs": "pairs.npy"}
    with pytest.raises(DataError, match=r"relevance\.target: no field 'passage'"):
        load("test", name="mine", splits=splits, root=arrays)
