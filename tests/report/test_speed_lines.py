"""The retrieval-time verdict lines, against the hand-written bench files of report_data."""

from __future__ import annotations

import json
from pathlib import Path

from report_data import write_results

from csrbench.report.collect import load_results
from csrbench.report.speed_lines import speed_lines
from csrbench.report.verdicts import verdict_text


def test_csr_is_compared_at_its_budget_and_with_the_full_embedding(results_root: Path) -> None:
    results = load_results(root=results_root)
    lines = speed_lines(results, "digits-mini")
    assert lines[0].startswith("\nRetrieval time per query (50,000-document database; ")
    # report_data: CSR k8 0.2 ms (inverted), mrl k8 0.3 ms (faiss), Full 1.0 ms (faiss)
    assert lines[1:] == [
        "- CSR k=8: 200 us (inverted). At equal k: MRL head m=8 300 us (faiss), 1.5x faster. "
        "Against the full embedding: Full 1,000 us (faiss), 5.0x faster."
    ]
    assert speed_lines(results, "imagenet-rn50") == []  # no bench files
    assert lines[1] in verdict_text(results, "digits-mini")


def test_a_slower_method_is_called_slower(tmp_path: Path) -> None:
    results = load_results(root=write_results(tmp_path / "results"))
    bench = results.bench
    bench.loc[
        (bench["experiment"] == "code-mini") & (bench["method"] == "full"), "ms_per_query"
    ] = 0.01
    (line,) = speed_lines(results, "code-mini")[1:]
    assert line == (
        "- CSR k=8: 50 us (inverted). Against the full embedding: Full 10 us (faiss), 5.0x slower."
    )


def test_small_databases_get_one_line_saying_why(tmp_path: Path) -> None:
    results = load_results(root=write_results(tmp_path / "results", database_n=1_222))
    assert speed_lines(results, "digits-mini") == [
        "\nNo retrieval-time comparison: the timed database holds 1,222 documents, below "
        "10,000, where every method answers in microseconds and the differences are overheads."
    ]


def test_equal_bytes_partners_come_from_the_compare_file(tmp_path: Path) -> None:
    """digits-mini's compare file pairs CSR k=8 (32 B) with mrl m=16 (32 B); with a
    bench file for mrl m=16 that pair is timed too, and the equal-k pair stays."""
    root = write_results(tmp_path / "results")
    body = json.loads((root / "bench/digits-mini/mrl/k8.json").read_text())
    body["k"], body["engines"] = 16, [{"engine": "faiss", "ms_per_query": 0.8}]
    (root / "bench/digits-mini/mrl/k16.json").write_text(json.dumps(body))
    (line,) = speed_lines(load_results(root=root), "digits-mini")[1:]
    assert line == (
        "- CSR k=8: 200 us (inverted). At equal k: MRL head m=8 300 us (faiss), 1.5x faster. "
        "At equal bytes (32 B): MRL head m=16 800 us (faiss), 4.0x faster. "
        "Against the full embedding: Full 1,000 us (faiss), 5.0x faster."
    )
