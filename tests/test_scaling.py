"""The database-size sweep (csrbench.scaling, rule `scaling`): sampling, rows, floors,
agreement with exact search, the job's JSON, and the config's checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_codesdir import write_codes_dir

from csrbench.codes import SparseCodes
from csrbench.codesdir import CodesDir
from csrbench.config import ConfigError, validate_config
from csrbench.data.base import Relevance
from csrbench.retrieval import ENGINES, available_engines, make_engine
from csrbench.retrieval.inverted import posting_list_lengths
from csrbench.retrieval.synthetic import inclusion_probabilities, sample_codes, zipf_frequencies
from csrbench.scaling import add_floor, code_usage, dense_unit, scaling_job, summary, sweep
from csrbench.store import SplitWriter
from csrbench.timing import time_engine

ROOT = Path(__file__).resolve().parents[1]
ROW_KEYS = {
    "engine",
    "kind",
    "device",
    "n",
    "ms_per_batch",
    "ms_per_query",
    "queries_per_s",
    "bytes_per_doc",
    "index_bytes",
    "floor_ms",
    "x_floor",
    "peak_rss_mb",
    "build_s",
}
BANDWIDTH = {"cpu_gbs": 10.0, "numpy_gbs": 8.0, "torch_gbs": 10.0}  # fixed: no 1 GiB buffer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def within_binomial_tolerance(codes: SparseCodes, freq: np.ndarray, k: int) -> np.ndarray:
    """Per latent: is its observed share of documents within 5 binomial sigmas of pi_j?"""
    pi = inclusion_probabilities(freq, k)
    observed = posting_list_lengths(codes) / codes.n
    return np.abs(observed - pi) <= 5 * np.sqrt(pi * (1 - pi) / codes.n) + 1e-9


def test_sampled_codes_reproduce_a_models_usage(tmp_path: Path) -> None:
    h, k = 128, 8
    trained = sample_codes(20_000, h, k, freq=zipf_frequencies(h, 1.0, seed=4), seed=9)
    codes_dir = write_codes_dir(tmp_path / "codes", {"train": {"doc": trained}})
    freq, k_read, source = code_usage(CodesDir.read(codes_dir), "train", "doc")
    assert k_read == k and source.endswith("train/doc.npz")
    np.testing.assert_allclose(freq.sum(), 1.0)
    synthetic = sample_codes(30_000, h, k, freq=freq, seed=5)
    s = np.sort(synthetic.indices, axis=1)
    assert synthetic.k == k and (s[:, 1:] != s[:, :-1]).all(), "k distinct latents per code"
    assert within_binomial_tolerance(synthetic, freq, k).all()
    # the tolerance discriminates: uniform codes fail it against the same frequencies
    uniform = sample_codes(30_000, h, k, freq=np.ones(h), seed=5)
    assert not within_binomial_tolerance(uniform, freq, k).all()


def test_dense_codes_are_refused_with_the_fix(tmp_path: Path) -> None:
    dense = {"train": {"doc": np.ones((4, 3), np.float32)}}
    root = write_codes_dir(tmp_path / "codes", dense, method="mrl")
    with pytest.raises(ValueError, match=r"dense codes of method 'mrl'.*scaling\.methods"):
        code_usage(CodesDir.read(root), "train", "doc")


def test_floors_are_bytes_read_over_bandwidth() -> None:
    # h=4 latents used by 3, 0, 5 and 2 of 10 documents (the last 5 have only zero slots)
    db = SparseCodes(
        np.array([[0, 2]] * 3 + [[2, 3]] * 2 + [[0, 1]] * 5, np.int16),
        np.array([[1, 1]] * 5 + [[0, 0]] * 5, np.float32),
        4,
    )
    np.testing.assert_array_equal(posting_list_lengths(db), [3, 0, 5, 2])
    q = SparseCodes(np.array([[0, 2], [2, 3]], np.int16), np.ones((2, 2), np.float32), 4)
    cpu = torch.device("cpu")
    floor = {
        name: make_engine(name, **ENGINES[name].options(cpu)).build(db)
        for name in available_engines("sparse")
    }
    # per query: 3 + 5 = 8 and 5 + 2 = 7 postings; 6 B each (numba), 8 B (torch)
    if "inverted" in floor:
        assert floor["inverted"].floor_bytes(q) == {
            "floor_bytes": 15 * 6.0,
            "index_once_bytes": (3 + 5 + 2) * 6.0,
            "postings_per_query": 7.5,
        }
    assert floor["inverted-torch"].floor_bytes(q)["floor_bytes"] == 15 * 8.0
    assert floor["torch-csr"].floor_bytes(q) == {"floor_bytes": 10 * 12.0}  # 10 nonzeros
    dense = make_engine("faiss").build(np.ones((10, 3), np.float32))
    assert dense.floor_bytes(q.to_dense()[:, :3]) == {"floor_bytes": 10 * 3 * 4.0}
    with pytest.raises(RuntimeError, match="build"):
        make_engine("torch").floor_bytes(q)
    row = {"device": "cpu", "ms_per_batch": 0.001}
    add_floor(row, floor["inverted-torch"].floor_bytes(q), {"cpu_gbs": 2.0})
    assert row["floor_ms"] == pytest.approx(120 / 2e9 * 1e3)
    assert row["x_floor"] == pytest.approx(0.001 / (120 / 2e9 * 1e3))
    assert row["index_once_ms"] == pytest.approx(80 / 2e9 * 1e3)


def test_sweep_has_one_row_per_engine_and_size() -> None:
    h, k, d = 96, 6, 16
    freq = zipf_frequencies(h, 0.8)
    result = sweep(
        freq,
        k,
        d,
        [300, 700],
        engines=list(ENGINES),
        device="cpu",
        repeats=1,
        batch=32,
        bandwidth=BANDWIDTH,
        budget_s=5.0,
    )
    here = [e for e in ENGINES if e in available_engines()]
    assert [(r["n"], r["engine"]) for r in result["results"]] == [
        (n, e) for n in (300, 700) for e in here
    ]
    assert result["unavailable"] == [e for e in ENGINES if e not in here]
    assert {"k", "h", "d", "bandwidth", "hardware", "results"} <= set(result)
    assert (result["k"], result["h"], result["d"]) == (k, h, d)
    for r in result["results"]:
        assert set(r) >= ROW_KEYS, ROW_KEYS - set(r)
        assert r["kind"] == ENGINES[r["engine"]].kind and r["device"] == "cpu"
        assert r["ms_per_batch"] > 0 and r["queries_per_s"] == pytest.approx(
            32 / (r["ms_per_batch"] / 1e3)
        )
        assert r["floor_ms"] == pytest.approx(r["floor_bytes"] / (BANDWIDTH["cpu_gbs"] * 1e6))
        assert r["x_floor"] == pytest.approx(r["ms_per_batch"] / r["floor_ms"])
        if r["kind"] == "dense":
            assert r["floor_bytes"] == r["n"] * d * 4
        assert r["agree"] >= 0.99  # same data: engines of a kind return the same ids
    text = summary(result)
    assert "n=700" in text and "best sparse" in text


def test_cpu_size_cap_and_memory_guard_skip_with_a_reason() -> None:
    freq = zipf_frequencies(32, 0.5)
    result = sweep(
        freq,
        4,
        8,
        [200],
        engines=["inverted-torch"],
        device="cpu",
        repeats=1,
        batch=16,
        bandwidth=BANDWIDTH,
        cpu_max_n={"inverted-torch": 100},
    )
    assert result["results"] == []
    assert result["skipped"] == [
        {"n": 200, "engine": "inverted-torch", "reason": "CPU size cap 100"}
    ]
    huge = sweep(freq, 4, 8, [10**12], engines=["torch"], repeats=1, bandwidth=BANDWIDTH)
    assert huge["results"] == [] and "host memory" in huge["skipped"][0]["reason"]


def test_memory_guard_counts_the_dense_copies_the_engines_hold() -> None:
    from csrbench.scaling import dense_copies, memory_bytes

    assert dense_copies(["inverted", "torch-csr"]) == 0
    assert dense_copies(["torch", "inverted"]) == 1
    assert dense_copies(["faiss", "torch"]) == 2
    n, d, k = 1_000_000, 4096, 32
    # d = 4096 at 1M: two float32 copies are 32.8 GB; a sparse-only sweep needs none
    assert memory_bytes(n, d, k, 2) - memory_bytes(n, d, k, 0) == 2 * n * d * 4
    assert memory_bytes(n, d, k, 0) < 4 << 30


def exact_top10(db: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Top-10 ids by inner product, ties to the lower id: the contract of every engine."""
    scores = q.astype(np.float64) @ db.astype(np.float64).T
    ids = np.broadcast_to(np.arange(db.shape[0]), scores.shape)
    order = np.lexsort((ids, -scores), axis=1)
    return order[:, :10]


@pytest.mark.parametrize("name", available_engines())
def test_every_engine_returns_the_exact_top10(name: str) -> None:
    h, k, d, n = 64, 6, 24, 500
    freq = zipf_frequencies(h, 0.7)
    if ENGINES[name].kind == "sparse":
        db = sample_codes(n, h, k, freq=freq, seed=2)
        q = sample_codes(64, h, k, freq=freq, seed=1)
        db_dense, q_dense = db.to_dense(), q.to_dense()
    else:
        db_dense = db = dense_unit(n, d, 2)
        q_dense = q = dense_unit(64, d, 1)
    timing = time_engine(name, db, q, batch=32, repeats=1, device="cpu")
    np.testing.assert_array_equal(timing.first_ids, exact_top10(db_dense, q_dense[:32]))
    assert timing.row()["repeats"] == 1 and timing.index_bytes > 0


def write_split(path: Path, fields: dict[str, int], d: int) -> Path:
    """A committed embeddings split with query->doc relevance (what `database_fields` reads)."""
    with SplitWriter(path, path.with_name("resume")) as w:
        for name, n in fields.items():
            x = np.ones((n, d), np.float32)
            w.write_field(name, iter([x]), ids=np.arange(n).astype(str), labels=None)
        w.write_relevance(Relevance("query", "doc", np.zeros((1, 3), np.int64)))
        w.commit({"model": "test"})
    return path


def test_scaling_job_writes_the_json_others_read(tmp_path: Path) -> None:
    h, k = 64, 4
    doc = sample_codes(2000, h, k, freq=zipf_frequencies(h, 1.0), seed=1)
    query = sample_codes(2000, h, k, freq=zipf_frequencies(h, 0.0), seed=2)
    codes_dir = write_codes_dir(tmp_path / "codes", {"train": {"doc": doc, "query": query}})
    split = write_split(tmp_path / "emb" / "test", {"doc": 3, "query": 3}, d=12)
    out = tmp_path / "out" / "scaling.json"
    lines: list[str] = []
    result = scaling_job(
        codes_dir,
        split,
        "train",
        out,
        experiment="exp",
        sizes=[150],
        gpu_sizes=[10**7],
        repeats=1,
        device="cpu",
        engines=["torch", "torch-csr"],
        batch=16,
        bandwidth=BANDWIDTH,
        progress=lines.append,
    )
    on_disk = json.loads(out.read_text())
    assert not list(out.parent.glob("*.tmp"))
    assert on_disk["experiment"] == "exp" and on_disk["method"] == "csr"
    assert (on_disk["k"], on_disk["h"], on_disk["d"]) == (k, h, 12)  # d of the embeddings
    assert on_disk["usage"].endswith("train/doc.npz")
    assert on_disk["query_usage"].endswith("train/query.npz")
    assert on_disk["size_list"] == "sizes" and on_disk["sizes"] == [150]  # no GPU: CPU list
    assert on_disk["bandwidth"] == BANDWIDTH and "cpu_model" in on_disk["hardware"]
    assert [r["engine"] for r in on_disk["results"]] == ["torch", "torch-csr"]
    assert result["results"][0]["n"] == 150 and any("torch-csr" in line for line in lines)


@pytest.mark.parametrize(
    ("scaling", "match"),
    [
        ({"sizes": [1000, 0]}, r"evaluate\.scaling\.sizes\.1: 0 is less than the minimum of 1"),
        ({"methods": ["mrl"]}, r"evaluate\.scaling\.methods\.0 = 'mrl' is not allowed.*csr"),
        ({"size": [10]}, r"unknown key evaluate\.scaling\.size;.*sizes"),
        ({"k": [0]}, r"evaluate\.scaling\.k\.0"),
    ],
)
def test_bad_scaling_config_names_the_key(scaling: dict, match: str) -> None:
    cfg = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    cfg["evaluate"]["scaling"] = scaling
    with pytest.raises(ConfigError, match=match):
        validate_config(cfg)


def test_scaling_defaults_are_filled() -> None:
    cfg = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    cfg["evaluate"]["scaling"] = {}
    cfg = validate_config(cfg)
    assert cfg["evaluate"]["scaling"] == {
        "enabled": True,
        "gpu_sizes": [100_000, 1_000_000, 10_000_000],
        "k": [32],
        "methods": ["csr"],
        "repeats": 3,
        "sizes": [100_000, 1_000_000],
    }
    assert cfg["evaluate"]["speed"] is False  # CI's config: the sweep stays off
