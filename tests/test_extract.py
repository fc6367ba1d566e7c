"""extract_split: rows equal the backbone's output, interruptions resume, provenance."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from csrbench.backbones.precomputed import PrecomputedBackbone
from csrbench.backbones.timm_backbone import TimmBackbone
from csrbench.data.base import Field, Relevance, Split
from csrbench.extract import extract_split
from csrbench.store import load_split

torch.set_num_threads(min(2, os.cpu_count() or 1))


def ids(n: int, prefix: str = "r") -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)])


class Counting:
    """Wraps a backbone: counts the items it is asked to embed; can fail mid-stream."""

    def __init__(self, inner, fail_after_batches: int | None = None):
        self.inner = inner
        self.fail_after_batches = fail_after_batches
        self.items_requested = 0
        self.name = getattr(inner, "name", "counting")

    @property
    def dim(self):
        return self.inner.dim

    @property
    def kinds(self):
        return self.inner.kinds

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        self.items_requested += len(field.items)
        for i, batch in enumerate(self.inner.embed(field, batch_size)):
            if self.fail_after_batches is not None and i >= self.fail_after_batches:
                raise RuntimeError("simulated crash (pre-emption)")
            yield batch

    def provenance(self) -> dict:
        return self.inner.provenance()


def vector_split(n: int = 47, d: int = 8) -> tuple[Split, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    q, doc = rng.normal(size=(n, d)), rng.normal(size=(n + 3, d))
    split = Split(
        dataset="toy",
        split="test",
        fields={
            "query": Field("query", "vector", q, ids(n, "q"), labels=np.arange(n) % 4),
            "doc": Field("doc", "vector", doc, ids(n + 3, "d")),
        },
        relevance=Relevance("query", "doc", np.stack([np.arange(n)] * 2 + [np.ones(n, int)], 1)),
        provenance={"source": "synthetic", "seed": 0},
    )
    return split, q, doc


def test_image_rows_equal_direct_backbone_output(tmp_path) -> None:
    images = np.rint(load_digits().images[:13] * (255 / 16)).astype(np.uint8)
    labels = np.arange(13) % 10
    split = Split("digits", "train", {"image": Field("image", "image", images, ids(13), labels)})
    bb = TimmBackbone(model="test_efficientnet", weights="random", device="cpu")
    prov = extract_split(
        split, bb, tmp_path / "out", tmp_path / "resume", batch_size=4, shard_rows=5, progress=False
    )
    direct = np.concatenate(list(bb.embed(split.fields["image"], 4)))
    got = load_split(tmp_path / "out").field("image")
    assert got.x.shape == (13, bb.dim) and got.x.dtype == np.float32
    np.testing.assert_allclose(got.x, direct, atol=1e-6)
    np.testing.assert_array_equal(got.ids, ids(13))
    np.testing.assert_array_equal(got.labels, labels)
    assert prov["backbone"]["type"] == "timm" and prov["d"] == bb.dim
    assert prov["backbone"]["weights"]["pretrained"] is False


def test_vectors_relevance_and_provenance(tmp_path) -> None:
    split, q, doc = vector_split()
    prov = extract_split(
        split,
        PrecomputedBackbone(),
        tmp_path / "out",
        tmp_path / "resume",
        batch_size=6,
        shard_rows=10,
        dtype="float16",
        progress=False,
    )
    s = load_split(tmp_path / "out")
    np.testing.assert_array_equal(s.field("query").x, q.astype(np.float16))
    np.testing.assert_array_equal(s.field("doc").x, doc.astype(np.float16))
    np.testing.assert_array_equal(s.relevance.pairs, split.relevance.pairs)
    for key in (
        "dataset", "split", "data", "backbone", "n", "d", "dtype", "seconds", "items_per_s",
        "device", "hardware", "fields", "relevance", "resumed_rows", "batch_size", "created",
    ):  # fmt: skip
        assert key in prov, key
    assert prov["n"] == {"query": 47, "doc": 50} and prov["d"] == 8 and prov["dtype"] == "float16"
    assert prov["data"] == {"source": "synthetic", "seed": 0}
    assert prov["fields"]["doc"] == {"n": 50, "d": 8, "dtype": "float16"}
    assert set(prov["seconds"]) == {"query", "doc"} and prov["items_per_s"]["doc"] > 0
    assert prov["hardware"]["cpu_logical_cores"] >= 1
    assert not (tmp_path / "resume").exists()


def test_interruption_leaves_nothing_finished_and_rerun_resumes(tmp_path, capsys) -> None:
    split, q, _ = vector_split()
    split = Split("toy", "test", {"query": split.fields["query"]})
    out, resume = tmp_path / "out", tmp_path / "resume"
    crashing = Counting(PrecomputedBackbone(), fail_after_batches=6)  # 24 rows, 2 full shards
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_split(split, crashing, out, resume, batch_size=4, shard_rows=10, progress=False)
    assert not out.exists() and not (tmp_path / "out.incomplete").exists()
    assert len(list((resume / "query.shards").glob("shard-*.npy"))) == 2

    rerun = Counting(PrecomputedBackbone())
    prov = extract_split(split, rerun, out, resume, batch_size=4, shard_rows=10, progress=False)
    assert rerun.items_requested == 47 - 20  # finished shards are not recomputed
    assert prov["resumed_rows"] == {"query": 20}
    np.testing.assert_array_equal(load_split(out).field("query").x, q.astype(np.float32))
    assert not resume.exists()
    assert "discarding" not in capsys.readouterr().err


def test_shards_of_another_configuration_are_discarded(tmp_path, capsys) -> None:
    split, q, _ = vector_split()
    split = Split("toy", "test", {"query": split.fields["query"]})
    out, resume = tmp_path / "out", tmp_path / "resume"
    with pytest.raises(RuntimeError):
        extract_split(split, Counting(PrecomputedBackbone(), 6), out, resume, 4, 10, progress=False)
    rerun = Counting(PrecomputedBackbone())
    extract_split(split, rerun, out, resume, 4, 10, dtype="float16", progress=False)
    assert rerun.items_requested == 47
    assert "another configuration" in capsys.readouterr().err
    np.testing.assert_array_equal(load_split(out).field("query").x, q.astype(np.float16))


def test_kind_mismatch_names_backbone_and_field(tmp_path) -> None:
    split = Split("pycode", "test", {"doc": Field("doc", "text", ["def f(): pass"], ids(1))})
    with pytest.raises(ValueError, match=r"'precomputed'.*field 'doc' of kind 'text'.*pycode"):
        extract_split(split, PrecomputedBackbone(), tmp_path / "o", tmp_path / "r", 4, 10)
    assert not any(tmp_path.iterdir())


def test_field_selection_skips_relevance(tmp_path) -> None:
    split, _, _ = vector_split()
    prov = extract_split(
        split, PrecomputedBackbone(), tmp_path / "o", tmp_path / "r", 8, 16,
        progress=False, fields=["doc"],
    )  # fmt: skip
    s = load_split(tmp_path / "o")
    assert list(s.fields) == ["doc"] and s.relevance is None and prov["relevance"] is None
    with pytest.raises(ValueError, match="no field 'image'"):
        extract_split(split, PrecomputedBackbone(), tmp_path / "o2", tmp_path / "r2", 8, 16,
                      fields=["image"])  # fmt: skip


class ShortBackbone(PrecomputedBackbone):
    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        yield from list(super().embed(field, batch_size))[:-1]


def test_backbone_yielding_too_few_rows_is_an_error(tmp_path) -> None:
    split, _, _ = vector_split()
    with pytest.raises(ValueError, match=r"yielded 42 rows for field 'query' of 47"):
        extract_split(split, ShortBackbone(), tmp_path / "o", tmp_path / "r", 6, 10, progress=False)
    assert not (tmp_path / "o").exists()
