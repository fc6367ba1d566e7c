"""One (method, budget)'s metrics over its training seeds: the file every table reads.

`evaluate` scores each seed's codes on its own (`{budget}/seed{s}.json`, with the
per-item scores beside it in `seed{s}.items.npz`); this job folds the seeds into
`{budget}.json`: each metric's per-seed values, their mean (under `metrics`, so readers
of a single-seed file and of an aggregate see the same key), std and 95% Student-t
interval (under `spread`). Deterministic methods (the full embedding, PCA, truncation)
have one seed; their interval has zero width and says n = 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.atomic import write_json, write_text
from csrbench.stats import seed_interval

# counts, not scores: the same for every seed, never averaged
COUNT_KEYS = frozenset({"n_queries"})


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def aggregate(seed_results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fold per-seed metric records of one (method, budget) into one record."""
    if not seed_results:
        raise ValueError("aggregate needs at least one seed's metrics")
    first = seed_results[0]
    for other in seed_results[1:]:
        for key in ("method", "k", "bytes_per_doc"):
            if other.get(key) != first.get(key):
                raise ValueError(
                    f"seed files disagree on {key}: {first.get(key)!r} vs {other.get(key)!r}"
                )
    seeds = [r.get("seed", 0) for r in seed_results]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seed files repeat a seed: {seeds}")
    names = [n for n, v in first["metrics"].items() if _number(v) and n not in COUNT_KEYS]
    per_seed = {n: [float(r["metrics"][n]) for r in seed_results] for n in names}
    spread = {n: seed_interval(v).as_dict() for n, v in per_seed.items()}
    out = {key: value for key, value in first.items() if key not in ("metrics", "seconds", "seed")}
    out["seeds"] = seeds
    out["metrics"] = {
        **{n: v for n, v in first["metrics"].items() if n in COUNT_KEYS},
        **{n: float(np.mean(v)) for n, v in per_seed.items()},
    }
    out["per_seed"] = per_seed
    out["spread"] = spread
    out["seconds"] = {
        key: float(np.mean([r.get("seconds", {}).get(key, math.nan) for r in seed_results]))
        for key in first.get("seconds", {})
    }
    return out


def aggregate_job(
    seed_files: Sequence[str | Path], out_path: str | Path, log: str | Path | None = None
) -> dict[str, Any]:
    """Read the per-seed JSON files, write the aggregate atomically, return it.

    The workflow runs this inside Snakemake's own process, so it writes its one log line
    to `log` itself rather than redirecting the process's streams.
    """
    records = [json.loads(Path(p).read_text()) for p in seed_files]
    result = aggregate(sorted(records, key=lambda r: r.get("seed", 0)))
    write_json(out_path, result)
    if log is not None:
        write_text(log, f"seeds {result['seeds']}: {result['metrics']}\n")
    return result
