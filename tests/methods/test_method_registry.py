"""One source for names: the registry against the config schema, the report, the classes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from csrbench.backbones import BACKBONE_TYPES
from csrbench.data import LOADERS
from csrbench.methods import REGISTRY, FittedMethod, bytes_per_doc, method_spec
from csrbench.report.labels import METHOD_LABELS, METHOD_ORDER, method_label
from csrbench.report.style import METHOD_STYLES, method_style

SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml").read_text()
)


def test_schema_method_enums_are_the_registry():
    assert SCHEMA["$defs"]["method"]["enum"] == list(REGISTRY)
    sparse = [name for name, spec in REGISTRY.items() if spec.sparse]
    assert SCHEMA["$defs"]["sparse_method"]["enum"] == sparse
    exp = SCHEMA["$defs"]["experiment"]["properties"]
    assert exp["methods"]["items"] == {"$ref": "#/$defs/method"}
    assert exp["method_params"]["propertyNames"] == {"$ref": "#/$defs/method"}
    assert set(exp["methods"]["default"]) <= set(REGISTRY)


def test_schema_loader_and_backbone_enums_are_their_registries():
    assert SCHEMA["$defs"]["dataset"]["properties"]["loader"]["enum"] == list(LOADERS)
    assert SCHEMA["$defs"]["backbone"]["properties"]["type"]["enum"] == list(BACKBONE_TYPES)


def test_every_method_has_a_label_a_place_and_its_own_style():
    assert set(METHOD_ORDER) == set(REGISTRY) and len(METHOD_ORDER) == len(REGISTRY)
    assert set(METHOD_LABELS) == set(REGISTRY) and set(METHOD_STYLES) == set(REGISTRY)
    looks = {(str(s["color"]), s["marker"], str(s["linestyle"])) for s in METHOD_STYLES.values()}
    assert len(looks) == len(REGISTRY)  # no two methods drawn alike
    assert method_label("csr-v2") == "CSR-v2" and method_label("unknown") == "unknown"
    assert method_style("unknown")["marker"] == "."


def test_specs_point_at_working_implementations():
    for spec in REGISTRY.values():
        cls = spec.implementation_class()
        assert issubclass(cls, FittedMethod), spec.name
        assert all(
            key in {f for f in spec.params.__dataclass_fields__} for key, _ in spec.fixed_params
        )
        # fitted per k means trained per k, or read per k from a released checkpoint
        assert spec.per_k <= (spec.trainable or spec.imported) and spec.sparse <= spec.per_k
    assert method_spec("sae").fixed_params == (("gamma", 0.0),)
    assert [s.name for s in REGISTRY.values() if s.anneal_k] == ["csr-v2"]
    assert [s.name for s in REGISTRY.values() if s.shared_classifier] == ["mrl-e"]


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(ValueError, match="unknown method 'csr2'; choose one of csr, sae, csr-v2"):
        method_spec("csr2")


def test_bytes_per_doc_follows_each_rule():
    assert bytes_per_doc("csr", 32, 384) == 32 * (2 + 2)
    assert bytes_per_doc("csr", 32, 384, value_dtype="float32") == 32 * (2 + 4)
    assert bytes_per_doc("csr", 32, 16384, h=65536) == 32 * (4 + 2)
    assert bytes_per_doc("mrl", 32, 384) == 64 and bytes_per_doc("pca", 500, 384) == 768
    assert bytes_per_doc("trunc", 32, 384, value_dtype="float32") == 128
    assert bytes_per_doc("full", None, 384) == 768
    assert bytes_per_doc("int8", 8, 384) == 384
    assert bytes_per_doc("binary", None, 385) == 49
    with pytest.raises(ValueError, match="mrl needs a budget k"):
        bytes_per_doc("mrl", None, 384)
