"""Verdict sentences follow the comparisons: wins, losses and level results, with p."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_data import DIGITS, write_results

from csrbench.compare import PRIMARY
from csrbench.report.collect import load_results
from csrbench.report.files import VerdictText, rst_escape
from csrbench.report.labels import HEADLINE
from csrbench.report.speed_lines import speed_lines
from csrbench.report.verdicts import pair_sentence, verdicts, write_verdicts

ROOT = Path(__file__).resolve().parents[2]


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
        "At equal k, CSR vs MRL head wins at k = 8: +19.2 (p < 0.001), loses at k = 16: -2.0 "
        "(p = 0.010), is level (no significant difference) at k = 64: +0.4 (p = 0.410)."
    )


def test_equal_bytes_rows_say_which_configurations_met():
    s = pair_sentence("csr", "mrl", "bytes", [_row("bytes", 64, -0.02, 0.001, a="k16", b="k32")])
    assert s == (
        "At equal bytes per document, CSR vs MRL head loses at 64 B (k16 vs k32): -2.0 (p = 0.001)."
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


def test_the_opening_line_names_primary_metric_seeds_and_test():
    cmp = {
        "reference": "csr",
        "primary_metric": "ndcg@10",
        "test": "paired sign-flip permutation",
        "n_resamples": 100,
        "correction": "holm within (axis, metric)",
        "alpha": 0.05,
        "comparisons": [_row("k", 8, 0.1, 0.001)],
    }
    first = verdicts(cmp, seeds={"csr": 3, "mrl": 3, "full": 1})[0]
    assert first.startswith(
        "Primary metric: nDCG@10 (%). Seeds: 3 seeds for CSR, MRL head; 1 seed for Full. "
    )
    assert "paired sign-flip permutation; 100 resamples" in first
    assert "holm within (axis, metric), significant at 0.05" in first
    assert "Seeds: not recorded." in verdicts(cmp)[0]


def test_the_verdict_file_is_the_verdicts_of_the_compare_file(built, results_root: Path):
    tables, _, _ = built
    compare = json.loads((results_root / "compare" / "digits-mini.json").read_text())
    seeds = {method: len(entry[0]) for (method, _), entry in DIGITS.items()}
    text = (tables / "digits-mini_verdicts.md").read_text()
    timing = speed_lines(load_results(root=results_root), "digits-mini")
    assert timing  # report_data times digits-mini on 50,000 documents
    assert text == "\n".join(verdicts(compare, seeds=seeds) + timing) + "\n"
    # the fixture's comparisons hold a win, a level result and a loss; each is said
    assert "CSR vs MRL head wins at k = 8" in text
    assert "CSR vs PCA is level (no significant difference) at k = 16" in text
    assert "CSR vs Full loses at 128 B (k16 vs full)" in text
    # an experiment without a compare file has no verdicts
    assert sorted(p.name for p in tables.glob("*_verdicts.md")) == ["digits-mini_verdicts.md"]


def test_an_empty_compare_file_says_no_comparison_was_made(tmp_path: Path):
    root = write_results(tmp_path / "results", image_text=False, scaling=False)
    path = root / "compare" / "digits-mini.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "comparisons": []}))
    written = write_verdicts(load_results(root=root), tmp_path / "tables")
    assert [p.name for p in written] == ["digits-mini_verdicts.md"]
    assert written[0].read_text().startswith("No paired comparison for 'digits-mini'")


@pytest.mark.parametrize("caption", ["tables.rst", "figures.rst"])
def test_report_captions_open_with_the_experiments_verdicts(built, caption: str):
    """Rendered as `snakemake --report` renders a caption (Jinja2, then reST to HTML): with
    the rule's `verdicts` parameter the experiment's verdicts come first; without it (or
    for a name of no experiment) the caption is the plain text."""
    from jinja2 import Environment

    template = Environment(trim_blocks=True, lstrip_blocks=True).from_string(
        (ROOT / "workflow" / "report" / caption).read_text()
    )
    tables, _, _ = built

    def render(name: str, **params) -> str:
        smk = SimpleNamespace(
            params=SimpleNamespace(**params), wildcards=SimpleNamespace(name=name)
        )
        return template.render(snakemake=smk)

    verdict = (tables / "digits-mini_verdicts.md").read_text().strip()
    text = render("digits-mini_knn1", verdicts=VerdictText(str(tables)))
    assert text.startswith(rst_escape(verdict))
    plain = render("digits-mini_knn1")
    assert text.endswith(plain) and not plain.startswith("Primary metric")
    assert render("training", verdicts=VerdictText(str(tables))) == plain.replace(
        "digits-mini_knn1", "training"
    )
    assert "system-message" not in _html(text)
    assert _html(text).count("<li>") == sum(line.startswith("- ") for line in verdict.splitlines())
    assert "1-NN top-1 (%):" in _html(text)


def _html(text: str) -> str:
    from docutils.core import publish_parts

    settings = {"report_level": 1, "halt_level": 5}
    return publish_parts(text, writer="html", settings_overrides=settings)["body"]


def test_verdicts_with_markup_characters_render_as_plain_text(tmp_path: Path):
    """`nDCG@10` would be a mail link in reST, `x_` a reference: both stay text."""
    cmp = {
        "reference": "csr",
        "primary_metric": "ndcg@10",
        "test": "paired_test",
        "n_resamples": 100,
        "correction": "holm",
        "alpha": 0.05,
        "comparisons": [_row("k", 8, 0.1, 0.001), _row("k", 8, 0.1, 0.001, other="my_method_")],
    }
    (tmp_path / "code_verdicts.md").write_text("\n".join(verdicts(cmp)) + "\n")
    html = _html(VerdictText(str(tmp_path)).for_name("code_text"))
    assert "system-message" not in html and "mailto:" not in html and "<a " not in html
    assert "nDCG&#64;10 (%):" in html and "paired_test" in html and "my_method_" in html
