"""Verdict sentences follow the comparisons: wins, losses and level results, with p."""

from __future__ import annotations

from csrbench.compare import PRIMARY
from csrbench.report.labels import HEADLINE
from csrbench.report.verdicts import pair_sentence, verdicts


def _row(axis, budget, diff, p, other="mrl", metric="ndcg@10", a="k8", b="k8"):
    return {
        "axis": axis,
        "budget": budget,
        "metric": metric,
        "diff": diff,
        "p_value": p,
        "p_holm": p,
        "significant": p < 0.05,
        "a": {"method": "csr", "budget": a},
        "b": {"method": other, "budget": b},
    }


def test_a_sentence_names_wins_losses_and_level_results_with_their_p():
    rows = [_row("k", 8, 0.192, 0.0001), _row("k", 16, -0.02, 0.01), _row("k", 64, 0.004, 0.41)]
    s = pair_sentence("csr", "mrl", "k", rows)
    assert s == (
        "At equal k, CSR vs MRL wins at k = 8: +19.2 (p < 0.001), loses at k = 16: -2.0 "
        "(p = 0.010), is level (no significant difference) at k = 64: +0.4 (p = 0.410)."
    )


def test_equal_bytes_rows_say_which_configurations_met():
    s = pair_sentence("csr", "mrl", "bytes", [_row("bytes", 64, -0.02, 0.001, a="k16", b="k32")])
    assert (
        s == "At equal bytes per document, CSR vs MRL loses at 64 B (k16 vs k32): -2.0 (p = 0.001)."
    )


def test_verdicts_put_the_primary_metric_first_and_cover_each_method():
    cmp = {
        "reference": "csr",
        "primary_metric": "ndcg@10",
        "test": "paired",
        "n_resamples": 100,
        "correction": "holm",
        "alpha": 0.05,
        "comparisons": [
            _row("k", 8, 0.1, 0.001, metric="classification_accuracy"),
            _row("k", 8, 0.1, 0.001),
            _row("k", 8, 0.3, 0.001, other="pca"),
            _row("bytes", 32, 0.1, 0.2),
        ],
    }
    lines = verdicts(cmp)
    text = "\n".join(lines)
    assert text.index("nDCG@10") < text.index("Classification accuracy")
    assert sum(line.startswith("- ") for line in lines) == 4
    assert "CSR vs PCA wins at k = 8: +30.0" in text
    assert verdicts({"comparisons": []}) == []


def test_compare_and_report_agree_on_the_headline_metric_order():
    assert list(PRIMARY) == HEADLINE
