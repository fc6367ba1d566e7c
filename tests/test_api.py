"""csrbench.fit on plain arrays: the in-memory split, the lazy top-level name, validation
scores against an independent computation, and the errors on bad arrays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import csrbench
from csrbench.api import InputError, embeddings_split, validation_scores
from csrbench.codes import SparseCodes
from csrbench.methods import load

SRC = Path(__file__).resolve().parents[1] / "src"
FAST = {"batch_size": 64, "epochs": 1, "progress": False, "h": 64, "k_aux": 16}
FAST_MRL = {"batch_size": 64, "epochs": 1, "progress": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 192, d: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_import_csrbench_stays_torch_free():
    code = (
        "import sys, csrbench, csrbench.config, csrbench.api, csrbench.cli\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "import csrbench.api as api\n"
        "assert csrbench.fit is api.fit\n"
        "assert 'torch' not in sys.modules, 'torch imported by the lazy name'\n"
        "print('ok')\n"
    )
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def test_unknown_top_level_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        csrbench.fitt  # noqa: B018


def test_fit_encode_save_load(tmp_path):
    x = _data()
    model = csrbench.fit(x, k=4, params=FAST, device="cpu")
    codes = model.encode(x)
    assert isinstance(codes, SparseCodes) and codes.k == 4 and codes.h == 64
    model.save(tmp_path / "m")
    again = load(tmp_path / "m").encode(x)
    np.testing.assert_array_equal(again.indices, codes.indices)
    np.testing.assert_array_equal(again.values, codes.values)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["params"]["fields"] == ["embedding"]
    assert cfg["train_provenance"] == {"source": "csrbench.api.fit"}


def test_row_aligned_docs_equal_explicit_pairs():
    """pairs=D (row-aligned) and pairs=[[i, i]] with docs=D are the same training data."""
    q, d = _data(seed=1), _data(seed=2)
    a = csrbench.fit(q, k=4, pairs=d, params=FAST, device="cpu")
    idx = np.stack([np.arange(len(q)), np.arange(len(q))], axis=1)
    b = csrbench.fit(q, k=4, pairs=idx, docs=d, params=FAST, device="cpu")
    assert a.params.fields == ["query", "doc"]
    ca, cb = a.encode(q), b.encode(q)
    np.testing.assert_array_equal(ca.indices, cb.indices)
    np.testing.assert_array_equal(ca.values, cb.values)


def test_embeddings_split_pairs_and_labels():
    q, d = _data(10, 4), _data(20, 4, seed=3)
    split = embeddings_split(q, np.array([[0, 19], [9, 0]]), d)
    assert sorted(split.fields) == ["doc", "query"]
    np.testing.assert_array_equal(split.relevance.pairs, [[0, 19, 1], [9, 0, 1]])
    y = np.arange(10) % 3
    single = embeddings_split(q, labels=y)
    np.testing.assert_array_equal(single.field("embedding").labels, y)
    assert single.relevance is None


def test_mrl_trains_on_labels():
    x, y = _data(), np.arange(192) % 4
    model = csrbench.fit(x, k=8, method="mrl", labels=y, params=FAST_MRL, device="cpu")
    assert model.params.objective == "labels"
    assert model.encode(x).shape == (192, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pairs": np.array([[0, 1]])}, r"pairs holds \(query row, doc row\).*docs"),
        ({"pairs": _data(10, 4), "docs": _data(10, 4)}, r"float matrix.*docs is given too"),
        ({"pairs": np.array([[0, 20]]), "docs": _data(20, 4)}, r"column 1 must index doc rows"),
        ({"pairs": np.array([[-1, 0]]), "docs": _data(20, 4)}, r"column 0 .* found -1"),
        ({"pairs": np.array([[0.5, 1]]), "docs": _data(20, 4)}, r"float matrix"),
        ({"pairs": np.zeros((0, 2), int), "docs": _data(20, 4)}, r"pairs is empty"),
        ({"pairs": np.zeros((3, 4), int), "docs": _data(20, 4)}, r"integer array \[m, 2\]"),
        ({"docs": _data(10, 5)}, r"docs has width 5 but x has 4"),
        ({"docs": _data(11, 4)}, r"row-aligned docs must have one row per row of x \(10\)"),
        ({"labels": np.arange(9)}, r"labels must be a 1-D integer array .* \(10\)"),
        ({"labels": np.arange(10.0)}, r"labels must be a 1-D integer"),
        ({"labels": np.arange(10), "docs": _data(10, 4)}, r"single-field training only"),
    ],
)
def test_embeddings_split_rejects(kwargs, match):
    with pytest.raises(InputError, match=match):
        embeddings_split(_data(10, 4), **kwargs)


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.zeros(5, np.float32), r"2-D embedding matrix"),
        (np.zeros((0, 4), np.float32), r"n, d > 0"),
        (np.zeros((3, 4), np.int64), r"must hold floats"),
        (np.array([[0.0, np.nan]], np.float32), r"NaN or infinite .* row 0"),
    ],
)
def test_bad_matrices(x, match):
    with pytest.raises(InputError, match=match):
        embeddings_split(x)


def _cosine_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


def test_validation_scores_match_numpy(tmp_path):
    x, val = _data(), _data(60, seed=5)
    model = csrbench.fit(x, k=4, params=FAST, device="cpu")
    model.save(tmp_path / "m")
    got = validation_scores(model, val, tmp_path / "m")
    codes = model.encode(val)
    dense = codes.to_dense()
    # reconstruction from the stored codes with numpy: sum_j v_j W[idx_j] + b_pre
    w = load_file(str(tmp_path / "m" / "model.safetensors"))
    rec = dense @ w["encoder_weight"] + w["pre_bias"]
    err = ((rec.astype(np.float64) - val) ** 2).sum()
    assert got["recon_mse"] == pytest.approx(err / val.size, rel=1e-5)
    assert got["recon_fvu"] == pytest.approx(err / ((val - val.mean(0)) ** 2).sum(), rel=1e-5)
    truth, mine = _cosine_neighbours(val, 10), _cosine_neighbours(dense, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, mine, strict=True)])
    assert got["knn_overlap@10"] == pytest.approx(overlap, abs=1e-9)
    assert got["active_dims_mean"] == pytest.approx((dense > 0).sum(1).mean())
    assert got["dead_latents_frac"] == pytest.approx(1 - (dense > 0).any(0).mean())
    # without a directory the same numbers come from a temporary save
    assert validation_scores(model, val) == got


def test_validation_scores_dense_method_has_no_reconstruction():
    x = _data()
    model = csrbench.fit(x, k=16, method="full", device="cpu")
    got = validation_scores(model, _data(30, seed=7))
    assert got["knn_overlap@10"] == pytest.approx(1.0)  # the identity keeps every neighbour
    assert "recon_mse" not in got and "active_dims_mean" not in got
