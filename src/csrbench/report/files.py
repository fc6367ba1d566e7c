"""Where the report's inputs live under `results/`, found without importing pandas.

The workflow calls `result_files` while it parses (the `figures` rule's input), so this
module uses the standard library only and stays fast to import.
"""

from __future__ import annotations

from pathlib import Path

# kind -> glob under the results root; one file per (experiment, method, budget) or fit
RESULT_GLOBS: dict[str, str] = {
    "metrics": "metrics/*/*/*.json",
    "bench": "bench/*/*/*.json",
    "scaling": "scaling/*/*/*.json",
    "training": "models/*/*/*/summary.json",
}

RUN_HINT = (
    "run the pipeline first (`snakemake --cores all`, or `make run`), "
    "or copy a finished run's results/ directory here"
)


class NoResultsError(FileNotFoundError):
    """No metric JSON to report on: names the path searched and what to run."""


def classify(path: str | Path) -> str | None:
    """The kind of result a path holds ("metrics", "bench", "scaling", "training"), or None.

    Decided by the path's shape alone (`.../metrics/{experiment}/{method}/{budget}.json`,
    `.../models/{experiment}/{method}/{budget}/summary.json`), so the same rule works for
    files listed by Snakemake and for files globbed from a directory.
    """
    parts = Path(path).parts
    if len(parts) >= 5 and parts[-1] == "summary.json" and parts[-5] == "models":
        return "training"
    if len(parts) >= 4 and parts[-1].endswith(".json") and parts[-4] in RESULT_GLOBS:
        kind = parts[-4]
        return kind if kind != "training" else None
    return None


def result_files(root: str | Path = "results", require_metrics: bool = True) -> list[str]:
    """Every result JSON under `root`, sorted; raises NoResultsError when no metric exists.

    Metrics are what every table is made of, so a report without them is an error with a
    clear next step rather than an empty directory of tables.
    """
    root = Path(root)
    found = {kind: sorted(root.glob(pattern)) for kind, pattern in RESULT_GLOBS.items()}
    if require_metrics and not found["metrics"]:
        raise NoResultsError(
            f"no metric JSON files under {root / 'metrics'} "
            f"(looked for {root / RESULT_GLOBS['metrics']}): {RUN_HINT}"
        )
    return sorted(str(p) for paths in found.values() for p in paths)
