"""csrbench.timing: batches, the engine timing both `bench` and `scaling` use, PeakRSS,
engine placement facts, and the `bench` job's JSON (csrbench.speed)."""

from __future__ import annotations

import json
import mmap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_codesdir import write_codes_dir, write_split

from csrbench.data.base import Relevance
from csrbench.retrieval import ENGINES, available_engines, search
from csrbench.retrieval.synthetic import sample_codes
from csrbench.speed import ROW_KEYS, bench_job
from csrbench.timing import EngineTiming, PeakRSS, batches, read_bandwidth, time_engine

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_batches_are_consecutive_views() -> None:
    x = np.arange(70, dtype=np.float32).reshape(35, 2)
    parts = batches(x, 16)
    assert [len(p) for p in parts] == [16, 16, 3]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    assert all(np.shares_memory(p, x) for p in parts)
    codes = sample_codes(35, 20, 4, seed=0)
    sparse = batches(codes, 16)
    assert [p.n for p in sparse] == [16, 16, 3] and {p.h for p in sparse} == {20}
    np.testing.assert_array_equal(np.concatenate([p.indices for p in sparse]), codes.indices)


def test_engine_timing_row_from_known_times() -> None:
    t = EngineTiming(
        engine="torch",
        kind="dense",
        device="cpu",
        batch=100,
        build_s=0.5,
        warmup_s=0.25,
        seconds_per_query=[3e-5, 1e-5, 2e-5],
        index_bytes=4000,
        bytes_per_doc=40.0,
        floor={"floor_bytes": 4000.0},
        peak_rss_mb=12.0,
        peak_cuda_mb=None,
        first_ids=np.zeros((100, 10), np.int64),
    )
    row = t.row()
    assert row["ms_per_query"] == pytest.approx(0.02)  # median of 0.03, 0.01, 0.02 ms
    assert row["ms_per_batch"] == pytest.approx(2.0)  # 100 queries a batch
    assert row["ms_per_batch_min"] == pytest.approx(1.0)
    assert row["ms_per_batch_all"] == pytest.approx([3.0, 1.0, 2.0])
    assert row["queries_per_s"] == pytest.approx(50_000)
    assert (row["repeats"], row["warmup_ms"], row["device"]) == (3, 250.0, "cpu")
    assert "peak_cuda_mb" not in row


@pytest.mark.parametrize("name", available_engines())
def test_time_engine_searches_exactly_and_counts_repeats(name: str) -> None:
    db = sample_codes(300, 48, 6, seed=1)
    q = sample_codes(70, 48, 6, seed=2)  # batches of 32: 32, 32, 6
    dense = ENGINES[name].kind == "dense"
    t = time_engine(
        name,
        db.to_dense() if dense else db,
        q.to_dense() if dense else q,
        batch=32,
        repeats=5,
        device="cpu",
    )
    _, ids = search("faiss", db.to_dense(), q.to_dense()[:32], 10)
    np.testing.assert_array_equal(t.first_ids, ids)  # the warm-up batch's answer
    assert len(t.seconds_per_query) == 5  # two batches after the warm-up, cycled
    assert t.ms_per_batch == pytest.approx(t.ms_per_query * 32)
    assert (t.engine, t.device, t.batch) == (name, "cpu", 32)
    assert t.index_bytes > 0 and t.bytes_per_doc == pytest.approx(t.index_bytes / 300)
    assert t.floor["floor_bytes"] > 0


def test_time_budget_cuts_repeats_and_bad_arguments_are_refused() -> None:
    db = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    t = time_engine("torch", db, db[:64], batch=16, repeats=50, budget_s=0.0, device="cpu")
    assert len(t.seconds_per_query) == 1  # the warm-up says: no time for more than one
    one = time_engine("torch", db, db[:10], batch=16, repeats=3, device="cpu")
    assert len(one.seconds_per_query) == 3  # the only batch, timed again
    with pytest.raises(ValueError, match="repeats and batch must be >= 1"):
        time_engine("torch", db, db, repeats=0)
    with pytest.raises(KeyError, match="unknown search engine 'annoy'"):
        time_engine("annoy", db, db)


def test_engines_state_where_they_run() -> None:
    assert ENGINES["torch"].options(CPU) == {"device": CPU}
    assert ENGINES["torch-csr"].placement(CPU) == "cpu"
    assert ENGINES["inverted-torch"].placement(torch.device("cuda")) == "cuda"
    assert ENGINES["faiss"].options(torch.device("cuda")) == {"gpu": True}
    assert ENGINES["faiss"].placement(CPU) == "cpu"
    if "inverted" in ENGINES:
        assert ENGINES["inverted"].options(torch.device("cuda")) == {}  # numba: CPU only
        assert ENGINES["inverted"].placement(torch.device("cuda")) == "cpu"


def test_peak_rss_catches_memory_freed_inside_the_block() -> None:
    # a fresh anonymous mapping, not a numpy array: after the rest of the suite, malloc
    # can serve 64 MiB from heap pages that are resident already, and RSS does not move
    size = 64 * 2**20
    with PeakRSS(interval=0.001) as mem:
        buf = mmap.mmap(-1, size)
        for offset in range(0, size, 4096):  # touch every page
            buf[offset] = 1
        time.sleep(0.05)
        buf.close()
    assert mem.mb > 48  # only the sampling thread saw it: it is gone at exit
    assert mem.peak_mb * 2**20 >= mem.peak >= mem.start
    assert not mem._thread.is_alive()


def test_read_bandwidth_reports_the_better_cpu_path() -> None:
    bw = read_bandwidth(gib=1 / 64, repeats=2)
    assert bw["numpy_gbs"] > 0 and bw["torch_gbs"] > 0
    assert bw["cpu_gbs"] == max(bw["numpy_gbs"], bw["torch_gbs"])


def test_bench_job_writes_one_row_per_engine(tmp_path: Path) -> None:
    doc = sample_codes(90, 32, 4, seed=1)
    query = sample_codes(40, 32, 4, seed=2)
    codes = write_codes_dir(tmp_path / "codes", {"test": {"doc": doc, "query": query}})
    pairs = Relevance("query", "doc", np.zeros((1, 3), np.int64))
    x = np.ones((3, 5), np.float32)
    split = write_split(tmp_path / "emb" / "test", {"doc": x, "query": x}, pairs)
    out = tmp_path / "bench" / "csr" / "k8.json"
    result = bench_job(codes, split, "train", "test", out, repeats=2)
    on_disk = json.loads(out.read_text())
    assert on_disk["method"] == "csr" and on_disk["k"] == 8
    assert on_disk["bytes_per_doc_stored"] == 32
    assert on_disk["database"] == {"split": "test", "corpus": [], "field": "doc", "n": 90}
    assert on_disk["queries"] == {"split": "test", "field": "query", "n": 40}
    assert (on_disk["query_batch"], on_disk["topk"]) == (512, 10)
    assert set(on_disk) == {
        "method", "k", "bytes_per_doc_stored", "database", "queries",
        "query_batch", "topk", "engines", "hardware",
    }  # fmt: skip
    sparse = [e for e in available_engines("sparse") if e != "inverted-torch"]
    assert [row["engine"] for row in result["engines"]] == sparse
    for row in on_disk["engines"]:
        assert set(row) == set(ROW_KEYS) and row["repeats"] == 2
        assert row["ms_per_batch"] == pytest.approx(row["ms_per_query"] * 512)
        assert row["queries_per_s"] == pytest.approx(1e3 / row["ms_per_query"])


def test_bench_job_with_a_corpus_times_every_split_documents(tmp_path: Path) -> None:
    doc, train_doc = sample_codes(90, 32, 4, seed=1), sample_codes(60, 32, 4, seed=3)
    query = sample_codes(40, 32, 4, seed=2)
    codes = write_codes_dir(
        tmp_path / "codes", {"test": {"doc": doc, "query": query}, "train": {"doc": train_doc}}
    )
    pairs = Relevance("query", "doc", np.zeros((1, 3), np.int64))
    x = np.ones((3, 5), np.float32)
    split = write_split(tmp_path / "emb" / "test", {"doc": x, "query": x}, pairs)
    result = bench_job(codes, split, "train", "test", tmp_path / "b.json", repeats=1,
                       corpus=["train"])  # fmt: skip
    assert result["database"] == {"split": "test", "corpus": ["train"], "field": "doc", "n": 150}


def test_bench_job_on_dense_image_codes_searches_the_training_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    train, test = rng.normal(size=(50, 6)), rng.normal(size=(20, 6))
    codes = write_codes_dir(
        tmp_path / "codes",
        {"train": {"image": train.astype(np.float16)}, "test": {"image": test.astype(np.float16)}},
        method="pca",
        k=6,
    )
    split = write_split(tmp_path / "emb" / "test", {"image": np.ones((2, 6), np.float32)}, None)
    result = bench_job(codes, split, "train", "test", tmp_path / "out.json", repeats=1)
    assert result["database"] == {"split": "train", "corpus": [], "field": "image", "n": 50}
    assert result["queries"] == {"split": "test", "field": "image", "n": 20}
    assert [row["engine"] for row in result["engines"]] == available_engines("dense")
    assert {row["bytes_per_doc"] for row in result["engines"]} == {6 * 4}  # fp16 -> float32
