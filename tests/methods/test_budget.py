"""Budget directory names (k32 / all / full) and which model and codes serve (method, k)."""

from __future__ import annotations

import re

import pytest

from csrbench.methods import Budget
from csrbench.methods.budget import CODES_BUDGET_PATTERN, MODEL_BUDGET_PATTERN


@pytest.mark.parametrize(("text", "k"), [("k32", 32), ("k1", 1), ("all", None), ("full", None)])
def test_parse_and_print_round_trip(text, k):
    b = Budget.parse(text)
    assert b.k == k and str(b) == text and Budget.parse(str(b)) == b


@pytest.mark.parametrize("text", ["k", "k0", "32", "K32", "k3.5", "k-1", "fulll", ""])
def test_bad_budget_names_fail(text):
    with pytest.raises(ValueError, match="budget"):
        Budget.parse(text)


def test_model_and_codes_rules():
    assert str(Budget.for_model("csr", 32)) == "k32" and str(Budget.for_model("mrl", 32)) == "all"
    assert str(Budget.for_model("pca", None)) == "all"
    assert str(Budget.for_codes("mrl", 16)) == "k16" and str(Budget.for_codes("full", 16)) == "full"
    assert str(Budget.for_codes("int8", 16)) == "full" and str(Budget.for_codes("sae", 8)) == "k8"
    with pytest.raises(ValueError, match="csr is fitted per budget"):
        Budget.for_model("csr", None)
    with pytest.raises(ValueError, match="unknown method"):
        Budget.for_codes("nope", 8)


def test_wildcard_patterns_accept_what_the_rules_print():
    assert re.fullmatch(MODEL_BUDGET_PATTERN, str(Budget.for_model("mrl", 8)))
    assert re.fullmatch(MODEL_BUDGET_PATTERN, str(Budget.for_model("csr", 64)))
    assert re.fullmatch(CODES_BUDGET_PATTERN, str(Budget.for_codes("binary", 8)))
    assert not re.fullmatch(MODEL_BUDGET_PATTERN, "full")
    assert not re.fullmatch(CODES_BUDGET_PATTERN, "all")
