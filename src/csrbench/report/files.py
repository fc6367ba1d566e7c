"""Where the report's inputs live under `results/`, found without importing pandas.

The workflow calls `result_files` while it parses (the `figures` rule's input), so this
module uses the standard library only and stays fast to import. It also holds
`VerdictText`, the object a Snakemake report caption reads an experiment's verdicts
through (a caption template cannot open a file by itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# kind -> globs under the results root. Metrics are the per-seed aggregates only: the
# per-seed files one level deeper (`{budget}/seed{s}.json`) are the aggregate's inputs,
# and reading them too would count every seed twice. Training summaries sit one level
# per seed (`{budget}/seed{s}/summary.json`); the older layout without the seed level
# (`{budget}/summary.json`) is still read, so an old results tree keeps its tables.
RESULT_GLOBS: dict[str, tuple[str, ...]] = {
    "metrics": ("metrics/*/*/*.json",),
    "bench": ("bench/*/*/*.json",),
    "scaling": ("scaling/*/*/*.json",),
    "training": ("models/*/*/*/seed*/summary.json", "models/*/*/*/summary.json"),
    "compare": ("compare/*.json",),
    "frontier": ("frontier/*.json",),
    "tune": ("tune/*/*.json",),
    "training_time": ("training_time/*.json",),
}
# kinds whose file is `{kind}/{experiment}/{method}/{budget}.json`
_BUDGET_FILES = ("metrics", "bench", "scaling")
_SEED_DIR = re.compile(r"seed\d+")

RUN_HINT = (
    "run the pipeline first (`snakemake --cores all`, or `make run`), "
    "or copy a finished run's results/ directory here"
)


class NoResultsError(FileNotFoundError):
    """No metric JSON to report on: names the path searched and what to run."""


def classify(path: str | Path) -> str | None:
    """The kind of result a path holds (a key of RESULT_GLOBS), or None.

    Decided by the path's shape alone, so the same rule works for files listed by
    Snakemake and for files globbed from a directory:
    `.../{metrics,bench,scaling}/{experiment}/{method}/{budget}.json`,
    `.../models/{experiment}/{method}/{budget}[/seed{s}]/summary.json`,
    `.../compare/{experiment}.json`, `.../frontier/{experiment}.json`,
    `.../training_time/{experiment}.json` and `.../tune/{experiment}/{method}.json`.
    A per-seed metric file (`.../metrics/{e}/{m}/{budget}/seed{s}.json`) is None.
    """
    parts = Path(path).parts
    if not parts or not parts[-1].endswith(".json"):
        return None
    if parts[-1] == "summary.json":
        seeded = len(parts) >= 6 and _SEED_DIR.fullmatch(parts[-2]) and parts[-6] == "models"
        return "training" if seeded or (len(parts) >= 5 and parts[-5] == "models") else None
    if len(parts) >= 4 and parts[-4] in _BUDGET_FILES:
        return parts[-4]
    if len(parts) >= 3 and parts[-3] == "tune":
        return "tune"
    if len(parts) >= 2 and parts[-2] in ("compare", "frontier", "training_time"):
        return parts[-2]
    return None


def result_files(root: str | Path = "results", require_metrics: bool = True) -> list[str]:
    """Every result JSON under `root`, sorted; raises NoResultsError when no metric exists.

    Metrics are what every table is made of, so a report without them is an error with a
    clear next step rather than an empty directory of tables.
    """
    root = Path(root)
    found = {
        kind: sorted({p for pattern in patterns for p in root.glob(pattern)})
        for kind, patterns in RESULT_GLOBS.items()
    }
    if require_metrics and not found["metrics"]:
        raise NoResultsError(
            f"no metric JSON files under {root / 'metrics'} "
            f"(looked for {root / RESULT_GLOBS['metrics'][0]}): {RUN_HINT}"
        )
    # a glob match that `classify` reads as another kind (or none) is not that result
    return sorted(str(p) for kind, paths in found.items() for p in paths if classify(p) == kind)


VERDICTS_SUFFIX = "_verdicts.md"


@dataclass(frozen=True)
class VerdictText:
    """An experiment's generated verdicts, looked up by the name of one of its tables or
    figures (`digits_knn1`, `digits_accuracy_vs_k` -> `digits_verdicts.md`).

    Handed to a Snakemake report caption as a rule parameter, so the caption template
    (`workflow/report/*.rst`) can open each experiment's results with its verdicts. The
    file is read when the caption is rendered, not when the rule is parsed, and the
    object's repr is constant, so it never makes the rule rerun.
    """

    tables_dir: str = "results/tables"

    def experiment_of(self, name: str) -> str | None:
        """The experiment whose verdict file `name` belongs to: the longest experiment
        name that `name` starts with, followed by `_`; None for figures across
        experiments (`training`, `dead_latents_vs_k`)."""
        experiments = [
            p.name[: -len(VERDICTS_SUFFIX)]
            for p in Path(self.tables_dir).glob(f"*{VERDICTS_SUFFIX}")
        ]
        matches = [e for e in experiments if name == e or name.startswith(e + "_")]
        return max(matches, key=len, default=None)

    def for_name(self, name: str) -> str:
        """The verdict text of the experiment `name` belongs to, escaped for
        reStructuredText (a caption's format), or "" when it has none."""
        experiment = self.experiment_of(name)
        if experiment is None:
            return ""
        text = (Path(self.tables_dir) / f"{experiment}{VERDICTS_SUFFIX}").read_text()
        return rst_escape(text.strip())

    def __reduce__(self) -> tuple[type, tuple[str]]:
        """Pickled as its folder's path, a plain str: Snakemake pickles every rule
        parameter into the job script's preamble, and unpickling this class there would
        import the installed csrbench before the script's `_srcpath` puts the checkout's
        src/ first. The job never reads it; only report captions do, in Snakemake's own
        process."""
        return (str, (self.tables_dir,))


# characters reStructuredText would read as markup inside the verdicts' plain sentences:
# `nDCG@10` becomes a mail link, `word_` a reference, `*` emphasis
_RST_MARKUP = "\\*`|_@"


def rst_escape(text: str) -> str:
    """`text` with every inline-markup character backslash-escaped; list bullets ("- ")
    and paragraphs are left as they are, since Markdown and reST share them."""
    return "".join("\\" + c if c in _RST_MARKUP else c for c in text)
