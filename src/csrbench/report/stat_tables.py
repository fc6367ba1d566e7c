"""The tables of the evidence behind the accuracy tables: paired significance tests
(`results/compare/{experiment}.json`) and the validation-split tuning of each method
(`results/tune/{experiment}/{method}.json`).

Numbers are copied from those files, only rescaled to points (x100) where they are
scores: a reader checks a verdict against its test, and a test against its file.
"""

from __future__ import annotations

import math

import pandas as pd

from csrbench.report.collect import Results
from csrbench.report.labels import k_label, method_label, method_rank, metric_label
from csrbench.report.table import Table

P_DIGITS = 4  # p-values of a 10,000-resample test go down to 1e-4


def config_label(budget: str, bytes_per_doc: float) -> str:
    """One configuration as a cell: "k8 (32 B)"."""
    if pd.isna(bytes_per_doc):
        return str(budget)
    return f"{budget} ({bytes_per_doc:g} B)"


def _test_sentence(meta: dict) -> str:
    confidence = meta.get("confidence", 0.95)
    return (
        f"Test: {meta.get('test', 'paired test')}; {meta.get('n_resamples', '?')} resamples, "
        f"{confidence:.0%} interval of the difference. p two-sided; 'p (Holm)' adjusted "
        f"{meta.get('correction', 'for multiple comparisons')}; significant when "
        f"p (Holm) < {meta.get('alpha', 0.05)}."
    )


def significance_table(results: Results, experiment: str) -> Table:
    """One row per paired comparison of the reference (CSR) with another method: where
    (axis, budget), which configurations, their means, the difference in points with its
    bootstrap interval, p, Holm-adjusted p and the verdict."""
    meta = results.compare_files.get(experiment, {})
    ref = method_label(str(meta.get("reference", "csr")))
    primary = meta.get("primary_metric")
    rows = results.compare[results.compare["experiment"] == experiment]
    rows = rows.assign(
        _metric=[(m != primary, m) for m in rows["metric"]],
        _axis=[0 if a == "k" else 1 for a in rows["axis"]],
        _method=[method_rank(m) for m in rows["b_method"]],
    ).sort_values(["_metric", "_axis", "budget", "_method"])
    index = pd.MultiIndex.from_arrays(
        [
            [metric_label(m) for m in rows["metric"]],
            list(rows["axis"]),
            [int(b) if not math.isnan(b) else b for b in rows["budget"]],
        ],
        names=["metric", "axis", "budget"],
    )
    frame = pd.DataFrame(
        {
            f"{ref} config": [
                config_label(b, n)
                for b, n in zip(rows["a_budget"], rows["a_bytes_per_doc"], strict=True)
            ],
            "other": [method_label(m) for m in rows["b_method"]],
            "other config": [
                config_label(b, n)
                for b, n in zip(rows["b_budget"], rows["b_bytes_per_doc"], strict=True)
            ],
            f"{ref} (%)": 100 * rows["a_mean"].to_numpy(),
            "other (%)": 100 * rows["b_mean"].to_numpy(),
            "diff (pts)": 100 * rows["diff"].to_numpy(),
            "diff low (pts)": 100 * rows["diff_low"].to_numpy(),
            "diff high (pts)": 100 * rows["diff_high"].to_numpy(),
            "p": rows["p_value"].to_numpy(),
            "p (Holm)": rows["p_holm"].to_numpy(),
            "significant": ["yes" if s else "no" for s in rows["significant"]],
        },
        index=index,
    )
    caption = (
        f"Paired tests of {ref} against every other method of '{experiment}' on the same "
        f"test items, per-item scores averaged over seeds. Axis 'k': both at budget k; axis "
        f"'bytes': at each byte budget, each method's best configuration storing at most "
        f"that many bytes per document. 'diff' = {ref} minus the other, in points of the "
        f"metric, with its interval ('diff low', 'diff high'). {_test_sentence(meta)}"
    )
    return Table(
        f"{experiment}_significance",
        f"Paired significance tests: {experiment}",
        caption,
        frame,
        column_digits={"p": P_DIGITS, "p (Holm)": P_DIGITS},
    )


def tuning_table(results: Results, experiment: str) -> Table:
    """Every trial of each tuned method: its settings and validation score, the chosen
    trial marked."""
    rows = results.tuning[results.tuning["experiment"] == experiment]
    rows = rows.assign(_rank=[method_rank(m) for m in rows["method"]])
    rows = rows.sort_values(["_rank", "trial"])
    index = pd.MultiIndex.from_arrays(
        [[method_label(m) for m in rows["method"]], rows["trial"].astype(int).to_numpy()],
        names=["method", "trial"],
    )
    frame = pd.DataFrame(
        {
            "tuned k": [k_label(k) for k in rows["k"]],
            "metric": [
                f"{metric_label(m)} on {s}"
                for m, s in zip(rows["metric"], rows["split"], strict=True)
            ],
            "params": rows["params"].to_numpy(),
            "score (%)": 100 * rows["score"].to_numpy(),
            "fit s": rows["fit_seconds"].to_numpy(),
            "chosen": ["yes" if c else "" for c in rows["chosen"]],
        },
        index=index,
    )
    trials = sorted({int(n) for n in rows.groupby("method")["trial"].count()})
    seeds = sorted({int(s) for s in rows["seed"].dropna()})
    seed_text = f"seed {', '.join(map(str, seeds))}" if seeds else "an unrecorded seed"
    caption = (
        f"Settings of each trained method of '{experiment}', tuned on the validation split "
        f"(never the test split): every trial of the method's grid, fitted at the tuned k "
        f"with {seed_text}, and its validation score; 'chosen' marks the "
        f"settings every seed and budget was then trained with (the best score, ties to the "
        f"earlier trial). Trials per method: {', '.join(map(str, trials))}."
    )
    return Table(f"{experiment}_tuning", f"Tuning on validation: {experiment}", caption, frame)
