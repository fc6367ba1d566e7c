"""Typed method parameters: the paper defaults, one builder, errors that name key and value."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from csrbench.methods import REGISTRY, ParamError, build_params
from csrbench.methods.paramdocs import render_docs
from csrbench.methods.params import CSRParams, CSRv2Params, MRLParams

ROOT = Path(__file__).resolve().parents[2]


def test_parse_time_modules_do_not_import_torch():
    code = (
        "import sys, csrbench.methods.registry, csrbench.methods.budget, "
        "csrbench.methods.params, csrbench.methods.paramdocs, csrbench.config, "
        "csrbench.methods; assert 'torch' not in sys.modules, sorted(sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize(
    ("modality", "batch", "gamma"),
    [("image", 4096, 0.1), ("text", 128, 1.0), ("multimodal", 128, 1.0)],
)
def test_csr_family_paper_defaults(modality, batch, gamma):
    p = build_params("csr", modality)
    assert type(p) is CSRParams and p.modality == modality
    assert (p.lr, p.batch_size, p.epochs, p.gamma) == (4e-4, batch, 10, gamma)
    assert (p.adam_eps, p.betas, p.beta, p.multi_k, p.multi_k_weight) == (
        6.25e-10,
        (0.9, 0.999),
        1 / 32,
        4,
        1 / 8,
    )
    assert (p.k_aux, p.dead_threshold, p.temperature, p.expansion) == (512, 10, 0.2, 4)
    assert (p.positives, p.symmetric, p.sparse_backward, p.h) == ("auto", "auto", "auto", None)
    assert build_params("sae", modality).gamma == 0.0
    v2 = build_params("csr-v2", modality)
    assert type(v2) is CSRv2Params and (v2.k_init, v2.anneal_frac, v2.gamma) == (64, 0.7, gamma)


@pytest.mark.parametrize(("modality", "batch"), [("image", 4096), ("text", 128)])
def test_mrl_and_baseline_defaults(modality, batch):
    for method in ("mrl", "mrl-e"):
        p = build_params(method, modality)
        assert type(p) is MRLParams
        assert (p.lr, p.adam_eps, p.batch_size, p.epochs) == (1e-3, 1e-8, batch, 10)
        assert (p.head, p.nesting, p.smallest_m, p.objective) == ("linear", None, 8, "auto")
    assert build_params("full", modality).encode_batch_size == 65536
    assert build_params("pca", modality).center is True
    assert build_params("int8", modality).int8_quantile == 1.0
    assert build_params("binary", modality).binary_center is True
    assert not hasattr(build_params("trunc", modality), "lr")


def test_strings_from_configs_become_typed_values():
    p = build_params(
        "csr",
        "text",
        {"tied": "False", "symmetric": "yes", "amp": "off", "lr": "1e-3", "betas": [0, 0.5]},
    )
    assert p.tied is False and p.symmetric is True and p.amp is False
    assert p.lr == 1e-3 and isinstance(p.lr, float) and p.betas == (0.0, 0.5)
    assert build_params("csr", "text", {"gamma": 2}).gamma == 2.0
    assert build_params("csr", "text", {"sparse_backward": "auto"}).sparse_backward == "auto"


def test_modality_override_picks_the_defaults():
    assert build_params("csr", "text", {"modality": "image"}).batch_size == 4096
    assert build_params("csr", "image", {"modality": "auto"}).batch_size == 4096
    assert build_params("csr", "image", {"modality": "auto"}).modality == "image"
    with pytest.raises(ParamError, match=r"modality = 'auto'.*concrete modality"):
        build_params("csr", "auto")


@pytest.mark.parametrize(
    ("method", "overrides", "message"),
    [
        ("csr", {"temprature": 0.1}, r"temprature = 0\.1 .*did you mean 'temperature'"),
        ("pca", {"centre": True}, r"centre = True .*did you mean 'center'.*accepted: center"),
        ("csr", {"init_pre_bias": "median"}, r"init_pre_bias = 'median' .*one of: zeros, mean"),
        ("csr", {"auxk_form": "gao"}, r"auxk_form = 'gao' .*one of: residual, paper"),
        ("csr", {"positives": "pair"}, r"positives = 'pair' .*auto, pairs, labels, self"),
        ("mrl", {"objective": "mse"}, r"objective = 'mse' .*labels, pairs, similarity"),
        ("csr", {"lr": -1e-3}, r"lr = -0\.001 .*number > 0"),
        ("csr", {"lr": "fast"}, r"lr = 'fast' .*number > 0"),
        ("csr", {"temperature": 0}, r"temperature = 0 .*number > 0"),
        ("csr", {"lr": "inf"}, r"lr = 'inf' .*number > 0"),
        ("mrl", {"epochs": 0}, r"epochs = 0 .*integer >= 1"),
        ("mrl", {"epochs": 2.5}, r"epochs = 2\.5 .*integer >= 1"),
        ("csr", {"batch_size": True}, r"batch_size = True .*integer >= 1"),
        ("csr-v2", {"anneal_frac": 1.5}, r"anneal_frac = 1\.5 .*> 0 and <= 1"),
        ("int8", {"int8_quantile": 0.0}, r"int8_quantile = 0\.0 .*> 0 and <= 1"),
        ("csr", {"tied": "maybe"}, r"tied = 'maybe' .*true/false"),
        ("csr", {"symmetric": 1}, r"symmetric = 1 .*true/false or auto"),
        ("csr", {"betas": [0.9, 1.0]}, r"betas = \[0\.9, 1\.0\] .*each in \[0, 1\)"),
        ("csr", {"betas": [0.9]}, r"betas = \[0\.9\] .*a list of 2 numbers"),
        ("mrl", {"nesting": [8, "x"]}, r"nesting = \[8, 'x'\] .*a list of integers or null"),
        ("csr", {"fields": "text"}, r"fields = 'text' .*a list of strings or null"),
        ("sae", {"gamma": 0.5}, r"gamma = 0\.5 .*sae fixes gamma = 0\.0.*csr or csr-v2"),
        ("csr", {"k_init": 32}, r"k_init = 32 .*unknown parameter for csr"),
        ("full", {"lr": 1e-3}, r"lr = 0\.001 .*unknown parameter for full"),
    ],
)
def test_bad_values_name_key_value_and_what_is_accepted(method, overrides, message):
    with pytest.raises(ParamError, match=message) as err:
        build_params(method, "text", overrides)
    key = next(iter(overrides))
    assert err.value.key == key and err.value.value == overrides[key]


def test_sae_may_restate_its_fixed_gamma():
    assert build_params("sae", "image", {"gamma": 0}).gamma == 0.0


def test_every_parameter_has_help():
    for spec in REGISTRY.values():
        for f in fields(spec.params):
            assert len(f.metadata.get("help", "")) > 10, (spec.name, f.name)


def test_committed_parameter_docs_are_generated():
    committed = (ROOT / "docs" / "method-parameters.md").read_text()
    assert committed == render_docs(), (
        "docs/method-parameters.md is stale: run "
        "`python -m csrbench.methods.paramdocs > docs/method-parameters.md`"
    )
    for spec in REGISTRY.values():
        for f in fields(spec.params):
            assert f"`{f.name}`" in committed, (spec.name, f.name)
