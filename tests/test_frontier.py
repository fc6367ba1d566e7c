"""The frontier scores each (method, k, codec) as an independent computation would,
calibrates on the training split only, and picks winners per byte budget correctly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from test_codesdir import write_codes_dir, write_split

from csrbench import frontier
from csrbench.codecs import base as codec_base
from csrbench.codes import SparseCodes
from csrbench.data.base import Relevance
from csrbench.frontier import Point, analyse, collect_points, frontier_job, pareto
from csrbench.store import SplitWriter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sparse_of(x: np.ndarray, k: int) -> SparseCodes:
    """Top-k of relu(x) per row, as fixed-k SparseCodes."""
    r = np.maximum(x, 0)
    idx = np.argsort(-r, axis=1, kind="stable")[:, :k]
    return SparseCodes(
        idx.astype(np.int16), np.take_along_axis(r, idx, 1).astype(np.float32), x.shape[1]
    )


@pytest.fixture(scope="module")
def retrieval(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A query->doc experiment: query i's one relevant document is doc i; codes of a
    sparse method (two seeds) and a dense one (one seed)."""
    root = tmp_path_factory.mktemp("frontier")
    rng = np.random.default_rng(0)
    emb, codes = {}, {}
    for split, n in (("train", 150), ("test", 60)):
        docs = rng.normal(size=(n, 24)).astype(np.float32)
        queries = docs + 1.5 * rng.normal(size=docs.shape).astype(np.float32)
        pairs = np.stack([np.arange(n), np.arange(n), np.ones(n, int)], 1)
        emb[split] = write_split(
            root / "emb" / split, {"doc": docs, "query": queries}, Relevance("query", "doc", pairs)
        )
        codes[split] = {"doc": docs, "query": queries}
    dirs = []
    for seed in (0, 1):
        proj = np.random.default_rng(10 + seed).normal(size=(24, 64)).astype(np.float32)
        splits = {
            s: {f: sparse_of(x @ proj, 6) for f, x in fields.items()} for s, fields in codes.items()
        }
        dirs.append(write_codes_dir(root / "codes/csr/k6" / f"seed{seed}", splits, "csr", 6))
    dense = {s: {f: x[:, :8].copy() for f, x in fields.items()} for s, fields in codes.items()}
    dirs.append(write_codes_dir(root / "codes/trunc/k8/seed0", dense, "trunc", 8))
    return {"emb": emb, "dirs": dirs, "root": root}


def expected_ndcg(db: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Per query, nDCG@10 with one relevant document (doc i for query i), by brute force."""
    scores = unit(queries) @ db.T
    order = np.argsort(-scores, axis=1, kind="stable")
    rank = np.argmax(order == np.arange(len(queries))[:, None], axis=1)
    return np.where(rank < 10, 1 / np.log2(rank + 2), 0.0)


def test_points_score_as_brute_force_on_independently_decoded_codes(retrieval: dict) -> None:
    points = collect_points(
        retrieval["dirs"], retrieval["emb"], "train", "test", ["sq8", "sq4", "bin"]
    )
    by = {(p.method, p.codec): p for p in points}
    assert set(by) == {
        ("csr", "sq8"),
        ("csr", "sq4"),
        ("trunc", "sq8"),
        ("trunc", "sq4"),
        ("trunc", "bin"),
    }
    assert by["csr", "sq4"].seeds == (0, 1) and by["csr", "sq4"].items["ndcg@10"].shape == (2, 60)
    # dense sq4 by hand: range of the normalised training docs, 15 steps, round, clip
    d = np.load(retrieval["root"] / "codes/trunc/k8/seed0/test/doc.npy")
    train = unit(np.load(retrieval["root"] / "codes/trunc/k8/seed0/train/doc.npy"))
    lo, hi = train.min(0), train.max(0)
    step = (hi - lo) / 15
    decoded = lo + np.clip(np.rint((unit(d) - lo) / step), 0, 15) * step
    q = np.load(retrieval["root"] / "codes/trunc/k8/seed0/test/query.npy")
    np.testing.assert_allclose(
        by["trunc", "sq4"].items["ndcg@10"][0], expected_ndcg(decoded, q), atol=1e-6
    )
    assert by["trunc", "sq4"].bytes_per_doc == 4 and by["trunc", "bin"].bytes_per_doc == 1
    # sparse sq8 by hand: per-latent max of the normalised training codes, 255 steps
    codes = SparseCodes.load(retrieval["root"] / "codes/csr/k6/seed1/test/doc.npz")
    train_codes = SparseCodes.load(retrieval["root"] / "codes/csr/k6/seed1/train/doc.npz")
    tdense = unit(train_codes.to_dense())
    step = np.where(tdense.max(0) > 0, tdense.max(0), tdense.max()) / 255
    dense = unit(codes.to_dense())
    decoded = np.clip(np.rint(dense / step), 0, 255) * step
    queries = SparseCodes.load(retrieval["root"] / "codes/csr/k6/seed1/test/query.npz").to_dense()
    np.testing.assert_allclose(
        by["csr", "sq8"].items["ndcg@10"][1], expected_ndcg(decoded, queries), atol=1e-6
    )
    assert by["csr", "sq8"].bytes_per_doc == 11  # 6 ids of 6 bits + 6 values of 8 bits: 84 bits


def test_a_corpus_adds_the_training_documents_to_the_stored_database(retrieval: dict) -> None:
    """With `corpus: all` the quantized database is the test documents followed by the
    training documents, both stored at the codec; queries still find test document i."""
    (point,) = [
        p
        for p in collect_points(
            retrieval["dirs"], retrieval["emb"], "train", "test", ["sq4"], corpus=["train"]
        )
        if p.method == "trunc"
    ]
    root = retrieval["root"] / "codes/trunc/k8/seed0"
    train = unit(np.load(root / "train/doc.npy"))
    lo, hi = train.min(0), train.max(0)
    step = (hi - lo) / 15
    db = unit(np.vstack([np.load(root / "test/doc.npy"), np.load(root / "train/doc.npy")]))
    decoded = lo + np.clip(np.rint((db - lo) / step), 0, 15) * step
    expected = expected_ndcg(decoded, np.load(root / "test/query.npy"))
    np.testing.assert_allclose(point.items["ndcg@10"][0], expected, atol=1e-6)
    (plain,) = [
        p
        for p in collect_points(retrieval["dirs"], retrieval["emb"], "train", "test", ["sq4"])
        if p.method == "trunc"
    ]
    assert point.mean("ndcg@10") < plain.mean("ndcg@10")  # 150 more documents to beat


def test_codecs_are_calibrated_on_the_training_split_only(retrieval: dict, monkeypatch) -> None:
    seen: list[np.ndarray] = []
    original = codec_base.Codec.fit

    def spy(self, train):
        seen.append(train.to_dense() if isinstance(train, SparseCodes) else np.asarray(train))
        return original(self, train)

    monkeypatch.setattr(codec_base.Codec, "fit", spy)
    collect_points(retrieval["dirs"], retrieval["emb"], "train", "test", ["sq8"])
    assert len(seen) == 3
    for x, path in zip(seen, sorted(retrieval["dirs"]), strict=True):
        sparse = (path / "train/doc.npz").exists()
        train = (
            SparseCodes.load(path / "train/doc.npz").to_dense()
            if sparse
            else np.load(path / "train/doc.npy")
        )
        assert x.shape[0] == 150  # the training split's rows, never the test split's 60
        np.testing.assert_allclose(x, unit(train), atol=1e-6)


def test_knn_points_match_brute_force_1nn(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 10))
    emb, fields = {}, {}
    for split, n in (("train", 80), ("test", 30)):
        labels = rng.integers(0, 4, n)
        x = (centres[labels] + 0.8 * rng.normal(size=(n, 10))).astype(np.float32)
        with SplitWriter(tmp_path / split, tmp_path / f"{split}.resume") as w:
            w.write_field("image", iter([x]), ids=np.arange(n).astype(str), labels=labels)
            w.commit({"model": "test"})
        emb[split], fields[split] = tmp_path / split, (x, labels)
    codes = write_codes_dir(
        tmp_path / "codes/full/full/seed0",
        {s: {"image": x} for s, (x, _) in fields.items()},
        "full",
        None,
    )
    (point,) = collect_points([codes], emb, "train", "test", ["bin"])
    (xtr, ytr), (xte, yte) = fields["train"], fields["test"]
    t = unit(xtr)
    mean = t.mean(0)
    high = np.array([t[t[:, j] > mean[j], j].mean() for j in range(10)])
    low = np.array([t[t[:, j] <= mean[j], j].mean() for j in range(10)])
    decoded = np.where(t > mean, high, low)
    nearest = np.argmax(unit(xte) @ decoded.T, axis=1)
    np.testing.assert_array_equal(point.items["knn1_top1"][0], (ytr[nearest] == yte).astype(float))
    assert point.k is None and point.bytes_per_doc == 2


def fake(method: str, nbytes: int, scores: np.ndarray, codec: str = "f16") -> Point:
    return Point(method, "k8", 8, codec, False, nbytes, 0, tuple(range(len(scores))), {"m": scores})


def test_pareto_is_the_brute_force_frontier() -> None:
    rng = np.random.default_rng(5)
    points = [fake(f"m{i}", int(rng.integers(1, 200)), rng.random((1, 30))) for i in range(40)]
    front = {p.name for p in pareto(points, "m")}
    dominated = {
        p.name
        for p, q in itertools.product(points, points)
        if q.bytes_per_doc <= p.bytes_per_doc and q.mean("m") > p.mean("m")
    }
    assert front == {p.name for p in points} - dominated


def test_analyse_picks_the_best_under_each_budget_and_tests_it_once() -> None:
    rng = np.random.default_rng(6)
    base = rng.random((3, 400))
    points = [
        fake("a", 10, base + 0.2),  # clearly best from 16 B on
        fake("b", 12, base + 0.1),
        fake("b", 60, base + 0.1 + 0.001 * rng.normal(size=(3, 400)), "sq8"),
        fake("c", 100, base + 0.2 + 0.002 * rng.normal(size=(3, 400))),
    ]
    rows = {
        r["budget"]: r for r in analyse(points, "m", byte_budgets=(8, 16, 64, 128), n_resamples=500)
    }
    assert rows[8]["best"] is None
    assert rows[16]["best"]["method"] == "a" and rows[16]["runner_up"]["method"] == "b"
    assert rows[16]["test"]["significant"] and rows[16]["test"]["diff"] == pytest.approx(0.1)
    assert rows[64]["runner_up"]["codec"] == "sq8"  # b's better configuration under 64 B
    assert rows[64]["per_method"]["b"]["bytes_per_doc"] == 60
    # at 128 B, c ties a within noise: the test is run and says so
    assert {rows[128]["best"]["method"], rows[128]["runner_up"]["method"]} == {"a", "c"}
    assert not rows[128]["test"]["significant"]
    tested = [r for r in rows.values() if r["test"] is not None and "same_test_as" not in r]
    assert len(tested) == 3  # 16 B and 64 B would repeat a pair only if it were the same


def test_a_repeated_pair_carries_its_first_verdict() -> None:
    rng = np.random.default_rng(7)
    base = rng.random((1, 200))
    points = [fake("a", 10, base + 0.3), fake("b", 12, base)]
    rows = analyse(points, "m", byte_budgets=(16, 32, 64), n_resamples=200)
    assert [r.get("same_test_as") for r in rows] == [None, 16, 16]
    assert (
        rows[1]["test"] is rows[0]["test"]
        and rows[0]["test"]["p_holm"] == rows[0]["test"]["p_value"]
    )


def test_frontier_job_writes_points_budgets_and_refuses_an_unknown_codec(
    retrieval: dict, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown codec 'int3'"):
        frontier_job(
            "x", retrieval["dirs"], retrieval["emb"], "train", "test", ["int3"], tmp_path / "f.json"
        )
    out = tmp_path / "f.json"
    frontier_job(
        "x",
        retrieval["dirs"],
        retrieval["emb"],
        "train",
        "test",
        ["f16", "sq4"],
        out,
        n_resamples=200,
    )
    body = json.loads(out.read_text())
    assert body["metric"] == "ndcg@10" and body["calibration"] == {"split": "train", "field": "doc"}
    assert len(body["points"]) == 4 and any(p["pareto"] for p in body["points"])
    assert [r["budget"] for r in body["budgets"]] == [16, 32, 64, 128, 256]
    assert frontier.RETRIEVAL_DEPTH >= 10


def test_classification_only_data_gets_a_file_that_says_why(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    emb = {}
    for split in ("train", "test"):
        with SplitWriter(tmp_path / split, tmp_path / f"{split}.resume") as w:
            x = rng.normal(size=(20, 4)).astype(np.float32)
            w.write_field(
                "text", iter([x]), ids=np.arange(20).astype(str), labels=np.arange(20) % 2
            )
            w.commit({"model": "test"})
        emb[split] = tmp_path / split
    out = tmp_path / "f.json"
    body = frontier_job("cls", [], emb, "train", "test", ["sq8"], out)
    assert body["points"] == [] and "neither relevance pairs nor an image field" in body["skipped"]
    assert json.loads(out.read_text())["skipped"] == body["skipped"]
    with pytest.raises(ValueError, match=r"no accuracy-per-byte frontier for .*neither relevance"):
        collect_points([], emb, "train", "test", ["sq8"])
