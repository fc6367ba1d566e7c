"""The train and encode jobs on stored splits: the files and keys the report reads."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from csrbench.codes import SparseCodes
from csrbench.codesdir import CodesDir
from csrbench.data.base import Relevance
from csrbench.jobs import encode_job, train_job
from csrbench.methods import Budget, load
from csrbench.store import SplitWriter

SUMMARY_KEYS = ["d", "embeddings", "fit_seconds", "h", "hardware", "k", "method", "n_train"]
SUMMARY_KEYS += ["seed", "training", "tuned"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _paired_split(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 16)).astype(np.float32)
    doc = (q + 0.2 * rng.normal(size=(n, 16))).astype(np.float32)
    with SplitWriter(path, path.with_name(path.name + "-resume")) as w:
        for name, x in (("text", q), ("image", doc)):
            w.write_field(name, iter([x]), ids=np.arange(n).astype(str), labels=None)
        pairs = np.stack([np.arange(n), np.arange(n), np.ones(n, int)], 1)
        w.write_relevance(Relevance("text", "image", pairs))
        w.commit({"model": "synthetic"})
    return path


def _spec(method: str, k: int | None, overrides: dict) -> dict:
    return {
        "method": method,
        "k": k,
        "modality": "image-text",
        "seed": 3,
        "overrides": overrides,
        "device": "cpu",
    }


def test_train_then_encode_writes_what_the_report_and_evaluators_read(tmp_path: Path) -> None:
    train = _paired_split(tmp_path / "emb" / "train", 96, 0)
    test = _paired_split(tmp_path / "emb" / "test", 20, 1)
    overrides = {"batch_size": 32, "epochs": 1, "h": 48, "progress": "false"}
    model_dir = tmp_path / "models" / str(Budget.for_model("csr", 4))
    summary = train_job(train, model_dir, _spec("csr", 4, overrides))
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "config.json",
        "model.safetensors",
        "summary.json",
        "train.tsv",
    ]
    assert sorted(json.loads((model_dir / "summary.json").read_text())) == SUMMARY_KEYS
    assert summary["h"] == 48 and summary["n_train"] == {"text": 96, "image": 96}
    params = json.loads((model_dir / "config.json").read_text())["params"]
    # image-text experiments train as multimodal: CLIP-form contrast, both directions
    assert params["modality"] == "multimodal" and params["gamma"] == 1.0
    assert params["contrastive_on"] == "recon" and params["symmetric"] is True
    assert params["progress"] is False and params["fields"] == ["text", "image"]
    with open(model_dir / "train.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(rows) == 3 and {"loss", "loss_contrastive", "dead_frac"} <= set(rows[0])

    out = tmp_path / "codes" / str(Budget.for_codes("csr", 4))
    meta = encode_job(model_dir, {"train": train, "test": test}, out, 4)
    assert meta["sparse"] is True and meta["bytes_per_doc"] == 4 * (2 + 2)
    assert meta["splits"]["test"]["fields"]["image"]["shape"] == [20, 4]
    codes = CodesDir.read(out).load("test", "image")
    assert isinstance(codes, SparseCodes) and codes.h == 48
    again = load(model_dir).encode(np.load(test / "image.npy"), k=4)
    assert np.array_equal(codes.indices, again.indices)
    assert not out.with_name(out.name + ".incomplete").exists()


def test_one_dense_fit_serves_every_budget(tmp_path: Path) -> None:
    train = _paired_split(tmp_path / "emb" / "train", 64, 0)
    model_dir = tmp_path / "models" / str(Budget.for_model("pca", None))
    summary = train_job(train, model_dir, _spec("pca", None, {"center": "off"}))
    assert summary["h"] is None and summary["training"] == {"n_fit_rows": 128}
    assert (model_dir / "train.tsv").read_text().startswith("step\tfit_seconds\n0\t")
    for k in (4, 8):
        meta = encode_job(model_dir, {"train": train}, tmp_path / "codes" / f"k{k}", k)
        assert meta["sparse"] is False and meta["bytes_per_doc"] == 2 * k
        assert CodesDir.read(tmp_path / "codes" / f"k{k}").load("train", "text").shape == (64, k)
