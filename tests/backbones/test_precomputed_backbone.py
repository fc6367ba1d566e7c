"""PrecomputedBackbone and the registry's build_backbone."""

from __future__ import annotations

import numpy as np
import pytest

from csrbench.backbones import BACKBONE_TYPES, build_backbone
from csrbench.backbones.base import Backbone
from csrbench.backbones.precomputed import PrecomputedBackbone
from csrbench.data.base import Field


def vec_field(x, name: str = "vec") -> Field:
    return Field(name, "vector", x, np.array([str(i) for i in range(len(x))]))


def test_passes_vectors_through_as_float32() -> None:
    x = np.random.default_rng(0).normal(size=(11, 6))
    bb = build_backbone({"type": "precomputed"})
    assert isinstance(bb, Backbone) and bb.dim is None
    batches = list(bb.embed(vec_field(x), batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 3]
    assert all(b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), x.astype(np.float32))
    assert bb.dim == 6 and bb.provenance()["dim"] == 6


def test_list_of_rows_and_width_checks() -> None:
    rows = [np.arange(3.0), np.arange(3.0) + 1]
    bb = PrecomputedBackbone()
    np.testing.assert_array_equal(np.concatenate(list(bb.embed(vec_field(rows), 8))), rows)
    with pytest.raises(ValueError, match="width 4, but an earlier field's width is 3"):
        next(bb.embed(vec_field(np.zeros((2, 4))), 8))
    with pytest.raises(ValueError, match="configured width is 5"):
        next(PrecomputedBackbone(dim=5).embed(vec_field(np.zeros((2, 4))), 8))
    ragged = [np.zeros(3), np.zeros(4)]
    with pytest.raises(ValueError, match=r"rows 0\.\.2 do not form"):
        list(PrecomputedBackbone().embed(vec_field(ragged), 8))


def test_non_finite_rows_are_named() -> None:
    x = np.zeros((5, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3 is not finite"):
        list(PrecomputedBackbone().embed(vec_field(x), 2))


def test_other_kinds_are_rejected() -> None:
    field = Field("doc", "text", ["a"], np.array(["0"]))
    with pytest.raises(ValueError, match=r"'precomputed'.*cannot embed field 'doc' of kind 'text'"):
        next(PrecomputedBackbone().embed(field, 1))


def test_registry_lists_all_types_and_rejects_unknown_keys() -> None:
    assert set(BACKBONE_TYPES) == {"timm", "sentence-transformers", "open_clip", "precomputed"}
    with pytest.raises(ValueError, match="unknown backbone type"):
        build_backbone({"type": "word2vec"})
    with pytest.raises(ValueError, match=r"does not take key\(s\) \['weights'\]"):
        build_backbone({"type": "precomputed", "weights": "x"})
    # a device set in the entry wins over the run-wide one
    bb = build_backbone({"type": "precomputed", "device": "cpu"}, device="cuda")
    assert bb.provenance()["device"] == "cpu"
