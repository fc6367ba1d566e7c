"""CodesDir reads what `encode` writes; search_roles picks the database and query fields.

`write_codes_dir` is also the codes-directory fixture of test_scaling and test_timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from csrbench.codes import SparseCodes
from csrbench.codesdir import META, CodesDir, search_roles
from csrbench.data.base import Relevance
from csrbench.evaluate import evaluate_job
from csrbench.jobs import encode_job, train_job
from csrbench.store import SplitWriter


def write_codes_dir(
    root: Path,
    splits: dict[str, dict[str, SparseCodes | np.ndarray]],
    method: str = "csr",
    k: int | None = 8,
) -> Path:
    """An `encode`-style codes directory (the same codes.json keys) holding `splits`."""
    meta: dict = {
        "method": method,
        "k": k,
        "sparse": all(isinstance(c, SparseCodes) for f in splits.values() for c in f.values()),
        "bytes_per_doc": 4 * (k or 1),
        "model": str(root / "model"),
        "splits": {},
    }
    for split, fields in splits.items():
        (root / split).mkdir(parents=True)
        described = {}
        for name, codes in fields.items():
            if isinstance(codes, SparseCodes):
                codes.save(root / split / f"{name}.npz")
                described[name] = {"shape": [codes.n, codes.k], "h": codes.h, "seconds": 0.1}
            else:
                np.save(root / split / f"{name}.npy", codes)
                described[name] = {"shape": list(codes.shape), "seconds": 0.1}
        meta["splits"][split] = {"embeddings": str(root / "emb" / split), "fields": described}
    (root / META).write_text(json.dumps(meta))
    return root


def write_split(path: Path, fields: dict[str, np.ndarray], relevance: Relevance | None) -> Path:
    with SplitWriter(path, path.with_name(path.name + ".resume")) as w:
        for name, x in fields.items():
            w.write_field(name, iter([x]), ids=np.arange(len(x)).astype(str), labels=None)
        if relevance is not None:
            w.write_relevance(relevance)
        w.commit({"model": "test"})
    return path


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Codes directories written by the real `encode` job: csr (sparse) and full (dense)."""
    root = tmp_path_factory.mktemp("encode")
    rng = np.random.default_rng(0)
    splits = {}
    for name, n in (("train", 120), ("test", 40)):
        x = rng.normal(size=(n, 16)).astype(np.float32)
        fields = {"doc": x, "query": x + 0.1 * rng.normal(size=x.shape).astype(np.float32)}
        pairs = Relevance("query", "doc", np.stack([np.arange(n)] * 2 + [np.ones(n, int)], 1))
        splits[name] = write_split(root / "emb" / name, fields, pairs)
    out = {}
    for method, k, overrides in (("csr", 4, {"max_steps": 2, "h": 32}), ("full", None, {})):
        spec = {"method": method, "k": k, "modality": "text", "seed": 0, "device": "cpu"}
        train_job(splits["train"], root / "model" / method, {**spec, "overrides": overrides})
        encode_job(root / "model" / method, splits, root / "codes" / method, k)
        out[method] = root / "codes" / method
    return out


def test_reads_what_encode_writes(encoded: dict[str, Path]) -> None:
    for method, path in encoded.items():
        raw = json.loads((path / META).read_text())
        codes = CodesDir.read(path)
        assert (codes.method, codes.k, codes.sparse) == (method, raw["k"], method == "csr")
        assert codes.bytes_per_doc == raw["bytes_per_doc"] and codes.model == raw["model"]
        assert list(codes.splits) == list(raw["splits"])  # the file's order
        for split, meta in raw["splits"].items():
            assert codes.splits[split].embeddings == meta["embeddings"]
            for field, f in meta["fields"].items():
                got = codes.splits[split].fields[field]
                assert list(got.shape) == f["shape"] and got.seconds == f["seconds"]
                assert got.h == f.get("h")  # latents of sparse codes only
                sparse = path / split / f"{field}.npz"
                theirs = (  # the files as encode wrote them, read without CodesDir
                    SparseCodes.load(sparse)
                    if sparse.exists()
                    else np.load(path / split / f"{field}.npy")
                )
                mine = codes.load(split, field)
                if isinstance(theirs, SparseCodes):
                    assert isinstance(mine, SparseCodes) and mine.h == theirs.h
                    np.testing.assert_array_equal(mine.indices, theirs.indices)
                    np.testing.assert_array_equal(mine.values, theirs.values)
                else:
                    np.testing.assert_array_equal(mine, theirs)
                assert list(got.shape) == list(
                    (mine.n, mine.k) if isinstance(mine, SparseCodes) else mine.shape
                )
    assert CodesDir.read(encoded["csr"]).active_dims == 4
    assert CodesDir.read(encoded["full"]).active_dims == 16  # no budget: the codes' width


def test_errors_name_the_problem_and_the_fix(tmp_path: Path, encoded: dict[str, Path]) -> None:
    with pytest.raises(FileNotFoundError, match=r"codes\.json does not exist.*encode rule"):
        CodesDir.read(tmp_path)
    (tmp_path / META).write_text(json.dumps({"method": "csr", "k": 8}))
    with pytest.raises(ValueError, match=r"lacks \['sparse', 'bytes_per_doc', 'model', 'splits'\]"):
        CodesDir.read(tmp_path)
    codes = CodesDir.read(encoded["csr"])
    with pytest.raises(ValueError, match=r"no codes of split 'val'; it has \['test', 'train'\]"):
        codes.load("val", "doc")
    with pytest.raises(ValueError, match=r"no codes of field 'image'.*\['doc', 'query'\]"):
        codes.load("test", "image")


def test_a_listed_field_without_its_file_is_an_error(tmp_path: Path) -> None:
    root = write_codes_dir(tmp_path / "codes", {"test": {"doc": np.ones((3, 2), np.float32)}})
    (root / "test" / "doc.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"lists test/doc.*encode again"):
        CodesDir.read(root).load("test", "doc")


def test_search_roles() -> None:
    pairs = np.zeros((1, 3), np.int64)
    text = search_roles(Relevance("query", "doc", pairs))
    assert (text.database_field, text.query_field) == ("doc", "query")
    assert text.database_split("train", "test") == "test"  # documents of the eval split
    captions = search_roles(Relevance("text", "image", pairs))
    assert (captions.database_field, captions.query_field) == ("image", "text")
    images = search_roles(None)
    assert (images.database_field, images.query_field) == ("image", "image")
    assert images.database_split("train", "test") == "train"  # kNN against training images


def test_a_corpus_appends_the_other_splits_documents() -> None:
    pairs = np.zeros((1, 3), np.int64)
    text = search_roles(Relevance("query", "doc", pairs))
    assert text.database_splits("train", "test") == ("test",)
    # the eval split's documents first (relevance indexes them), the eval split once
    assert text.database_splits("train", "test", ["train", "val", "test"]) == (
        "test",
        "train",
        "val",
    )
    for roles in (search_roles(Relevance("text", "image", pairs)), search_roles(None)):
        with pytest.raises(ValueError, match=r"query->doc retrieval only.*corpus: eval"):
            roles.database_splits("train", "test", ["train"])
    assert search_roles(None).database_splits("train", "test") == ("train",)


def test_load_rows_stacks_splits_in_order(encoded: dict[str, Path]) -> None:
    for path in encoded.values():
        codes = CodesDir.read(path)
        test, train = codes.load("test", "doc"), codes.load("train", "doc")
        both = codes.load_rows(["test", "train"], "doc")
        if isinstance(both, SparseCodes):
            assert isinstance(test, SparseCodes) and isinstance(train, SparseCodes)
            assert both.h == test.h and both.n == test.n + train.n
            np.testing.assert_array_equal(
                both.to_dense(), np.vstack([test.to_dense(), train.to_dense()])
            )
        else:
            np.testing.assert_array_equal(both, np.vstack([test, train]))


def test_evaluate_with_a_corpus_ranks_against_every_document(tmp_path: Path) -> None:
    """nDCG@10 and Recall@1 over the eval split's documents followed by the training
    split's, against a brute-force ranking of the same codes; more documents can only
    push a relevant document down, so no query scores higher than without the corpus."""
    rng = np.random.default_rng(5)
    n_test, n_train = 40, 120
    test_docs = rng.normal(size=(n_test, 8)).astype(np.float32)
    queries = test_docs + rng.normal(size=test_docs.shape).astype(np.float32)
    train_docs = rng.normal(size=(n_train, 8)).astype(np.float32)
    fields = {
        "test": {"doc": test_docs, "query": queries},
        "train": {"doc": train_docs, "query": train_docs},
    }
    path = write_codes_dir(tmp_path / "codes", fields, method="full", k=None)
    splits = {}
    for split, f in fields.items():
        n = len(f["doc"])
        pairs = Relevance("query", "doc", np.stack([np.arange(n)] * 2 + [np.ones(n, int)], 1))
        splits[split] = write_split(tmp_path / "emb" / split, f, pairs)
    plain = evaluate_job(path, splits, "train", "test", tmp_path / "a.json", linear_probe=False,
                         items_path=tmp_path / "a.npz")  # fmt: skip
    grown = evaluate_job(path, splits, "train", "test", tmp_path / "b.json", linear_probe=False,
                         items_path=tmp_path / "b.npz", corpus=["train"])  # fmt: skip
    assert plain["database"] == {"split": "test", "corpus": [], "field": "doc", "n": n_test}
    assert grown["database"] == {"split": "test", "corpus": ["train"], "field": "doc", "n": 160}

    def unit(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    scores = unit(queries) @ unit(np.vstack([test_docs, train_docs])).T
    # rank of document i for query i: documents scoring higher, ties to the lower id
    own = scores[np.arange(n_test), np.arange(n_test)]
    rank = (scores > own[:, None]).sum(1)
    ndcg = np.where(rank < 10, 1 / np.log2(rank + 2), 0.0)
    items_plain, items_grown = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_allclose(items_grown["ndcg@10"], ndcg, atol=1e-5)
    np.testing.assert_allclose(items_grown["recall@1"], rank == 0)
    assert grown["metrics"]["ndcg@10"] == pytest.approx(ndcg.mean(), abs=1e-5)
    assert np.all(items_grown["ndcg@10"] <= items_plain["ndcg@10"] + 1e-6)
    assert grown["metrics"]["ndcg@10"] < plain["metrics"]["ndcg@10"]  # the corpus is harder
