"""The retrieval-time lines of an experiment's verdicts, written from the bench files.

The paper's speed claim is about the time a query takes against a database, so these
lines compare the reference method (CSR) with every method at the same budget and with
the full embedding, each at the fastest engine measured for its codes, and name the
database size and the machine. Times from databases below `MIN_TIMED_DOCS` documents
measure overheads, not search: such an experiment gets one line saying why its times are
left out. Timings are medians of timed batches on one machine, with no interval: a ratio
is a measurement of that machine, not a test.
"""

from __future__ import annotations

import math

import pandas as pd

from csrbench.methods.registry import method_spec
from csrbench.report.collect import Results
from csrbench.report.labels import method_label, sorted_methods
from csrbench.report.tables import MIN_TIMED_DOCS, retrieval_times


def _us(ms: float) -> str:
    """Microseconds with three significant figures (a ms value of 0.0412 -> '41.2 us')."""
    us = 1e3 * ms
    return f"{us:,.0f} us" if us >= 100 else f"{us:.3g} us"


def _ratio(reference_ms: float, other_ms: float) -> str:
    r = other_ms / reference_ms
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.1f}x slower"


def _code(method: str, k: float) -> str:
    """ "CSR k=8", "MRL m=8" (k active latents, or a prefix of m dims), "Full"."""
    if not math.isfinite(k):
        return method_label(method)
    return f"{method_label(method)} {'k' if method_spec(method).sparse else 'm'}={int(k)}"


def _equal_bytes(results: Results, experiment: str, reference: str) -> dict[str, dict]:
    """reference budget -> {"bytes": B, "partners": [(method, budget)]}: the pairs the
    compare file tests at equal bytes per document, where the partner's budget is not
    the reference's own (those are the equal-k pairs) and the partner has a budget."""
    out: dict[str, dict] = {}
    for c in (results.compare_files.get(experiment) or {}).get("comparisons", []):
        a, b = c["a"], c["b"]
        if c["axis"] != "bytes" or a["method"] != reference or b.get("k") is None:
            continue
        if b["budget"] == a["budget"]:
            continue
        entry = out.setdefault(a["budget"], {"bytes": a["bytes_per_doc"], "partners": []})
        if (b["method"], b["budget"]) not in entry["partners"]:
            entry["partners"].append((b["method"], b["budget"]))
    return out


def speed_lines(results: Results, experiment: str, reference: str = "csr") -> list[str]:
    """Per budget of `reference`: its time against every other method at that budget, at
    equal bytes per document (the compare file's pairs), and against the unbudgeted ones
    (the full embedding), fastest engine each; [] without bench files."""
    times = retrieval_times(results, experiment)
    if times.empty:
        return []
    bench = results.bench[results.bench["experiment"] == experiment]
    k_of = bench.drop_duplicates(["method", "budget"]).set_index(["method", "budget"])["k"]
    keys = zip(times["method"], times["budget"], strict=True)
    times = times.assign(k=[k_of.get(key, math.nan) for key in keys])
    sizes = sorted({int(n) for n in times["database_n"].dropna()})
    if not sizes or max(sizes) < MIN_TIMED_DOCS:
        size = f"{max(sizes):,}" if sizes else "an unknown number of"
        return [
            f"\nNo retrieval-time comparison: the timed database holds {size} documents, "
            f"below {MIN_TIMED_DOCS:,}, where every method answers in microseconds and the "
            "differences are overheads."
        ]
    times = times[times["database_n"] >= MIN_TIMED_DOCS]
    hardware = ", ".join(sorted(set(bench["hardware"])))
    lines = [
        f"\nRetrieval time per query ({' / '.join(f'{n:,}' for n in sizes)}-document database; "
        f"fastest engine measured for each code, batches of 512 queries, median of the timed "
        f"batches; {hardware}; 'Nx faster' is {method_label(reference)}'s speed-up):\n"
    ]
    ours = times[times["method"] == reference].sort_values("k")
    unbudgeted = times[times["k"].isna() & (times["method"] != reference)]
    paired = _equal_bytes(results, experiment, reference)
    by_key = times.set_index(["method", "budget"])

    def against(ms: float, others: pd.DataFrame) -> list[str]:
        order = sorted_methods(list(others["method"]))
        return [
            f"{_code(o['method'], o['k'])} {_us(o['ms_per_query'])} ({o['engine']}), "
            f"{_ratio(ms, o['ms_per_query'])}"
            for o in sorted(others.to_dict("records"), key=lambda o: order.index(o["method"]))
        ]

    for _, row in ours.iterrows():
        ms = row["ms_per_query"]
        groups = []
        same_k = against(ms, times[(times["k"] == row["k"]) & (times["method"] != reference)])
        if same_k:
            groups.append(f"At equal k: {'; '.join(same_k)}.")
        pair = paired.get(row["budget"])
        if pair:
            keys = [key for key in pair["partners"] if key in by_key.index]
            same_bytes = against(ms, by_key.loc[keys].reset_index()) if keys else []
            if same_bytes:
                groups.append(f"At equal bytes ({pair['bytes']:g} B): {'; '.join(same_bytes)}.")
        full = against(ms, unbudgeted)
        if full:
            groups.append(f"Against the full embedding: {'; '.join(full)}.")
        head = f"- {_code(reference, row['k'])}: {_us(ms)} ({row['engine']})"
        lines.append(" ".join([head + ".", *groups]))
    return lines if len(lines) > 1 else []
