"""One setting against another, on the validation split only: how each deviation from the
paper (or the official code) was measured before it became, or stopped being, a default.

    python bench/settings_on_validation.py --results results --experiment pycode \\
        --method csr --variant auxk_form=paper --variant dead_threshold=30 --seeds 3

Reads a finished run's embeddings (`<results>/embeddings/<dataset>/<backbone>/{train,val}`),
the experiment's `method_params` from the config and the settings `tune` chose
(`<results>/tune/<experiment>/<method>.json`); that is the baseline. Each `--variant`
changes one or more keys of it (`key=value[,key=value]`, values parsed as YAML). Every
setting is fitted on train at the tuning budget (or `--k`) for each seed and scored on
validation by the experiment's primary metric (`csrbench.tune.validation_score`); the test
split is never opened. Printed: mean and std over seeds and the mean paired difference
(same seed) against the baseline with its range; `--json` keeps every score.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

from csrbench.atomic import write_json
from csrbench.config import load_schema, tune_budget, validate_config
from csrbench.store import load_split
from csrbench.tune import validation_score

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"


def parse_variant(text: str) -> dict:
    """`a=1,b=zeros` -> {"a": 1, "b": "zeros"} (values read as YAML scalars)."""
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--variant {text!r}: expected key=value[,key=value]")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--results", default="results", help="a finished run's results/ folder")
    ap.add_argument("--experiment", required=True)
    ap.add_argument("--method", default="csr")
    ap.add_argument("--variant", action="append", default=[], help="key=value[,key=value]")
    ap.add_argument("--k", type=int, default=None, help="budget (default: the tuning k)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None, help="write every score here")
    a = ap.parse_args(argv)

    from csrbench.methods import fit, params_for_split
    from csrbench.methods.params import EXPERIMENT_MODALITY

    config = validate_config(yaml.safe_load(Path(a.config).read_text()), load_schema(SCHEMA))
    if a.experiment not in config["experiments"]:
        raise SystemExit(f"no experiment {a.experiment!r} in {a.config}")
    exp = config["experiments"][a.experiment]
    k = a.k or tune_budget(exp)
    root = Path(a.results)
    emb = root / "embeddings" / exp["dataset"] / exp["backbone"]
    if not (emb / "val").is_dir():
        raise SystemExit(f"{emb / 'val'} is missing: run the workflow (or its tune jobs) first")
    tuned_path = root / "tune" / a.experiment / f"{a.method}.json"
    tuned = json.loads(tuned_path.read_text())["chosen"] if tuned_path.exists() else {}
    base = {**exp["method_params"].get(a.method, {}), **tuned}
    settings = {"baseline": base} | {v: {**base, **parse_variant(v)} for v in a.variant}
    fit_split, val_split = load_split(emb / "train"), load_split(emb / "val")

    scores: dict[str, list[float]] = {}
    metric = ""
    for name, overrides in settings.items():
        for seed in range(a.seeds):
            params = params_for_split(
                a.method, fit_split, overrides, EXPERIMENT_MODALITY[exp["modality"]]
            )
            start = time.perf_counter()
            fitted = fit(a.method, k, fit_split, params, a.device, seed)
            metric, score = validation_score(fitted, k, fit_split, val_split)
            scores.setdefault(name, []).append(score)
            print(f"{name} seed {seed}: {metric} {score:.4f} ({time.perf_counter() - start:.1f} s)")

    print(f"\n{a.experiment} {a.method} k={k}, validation {metric}, {a.seeds} seeds; base {base}")
    ref = scores["baseline"]
    for name, vals in scores.items():
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        diff = [v - r for v, r in zip(vals, ref, strict=True)]
        print(
            f"{name:40s} {statistics.mean(vals):.4f} +- {sd:.4f}  "
            f"paired diff {statistics.mean(diff):+.4f} [{min(diff):+.4f}, {max(diff):+.4f}]"
        )
    if a.json:
        write_json(
            a.json,
            {"experiment": a.experiment, "method": a.method, "k": k, "metric": metric,
             "split": "val", "baseline": base, "settings": settings, "scores": scores},
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
