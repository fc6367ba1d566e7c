"""The work behind the `train` and `encode` rules, callable (and tested) without Snakemake.

Each job reads only what its rule declares as input and writes its outputs under
temporary names, renaming them into place at the end, so an interrupted job never
leaves a file that looks finished.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from csrbench import methods
from csrbench.atomic import atomic_dir, write_json
from csrbench.codes import SparseCodes
from csrbench.codesdir import META
from csrbench.devices import hardware_info
from csrbench.methods.params import EXPERIMENT_MODALITY
from csrbench.store import load_split
from csrbench.train import write_log


def train_job(
    train_dir: str | Path,
    model_dir: str | Path,
    spec: dict[str, Any],
    tuned: str | Path | None = None,
) -> dict:
    """Fit `spec["method"]` at budget `spec["k"]` and write model, config, step log, summary.

    `spec` carries method, k (None for one fit serving every k), modality, seed,
    device and the config's per-method overrides (checked when the workflow parsed the
    config; built here into the method's typed parameters, once). `tuned` is a `tune`
    job's JSON: the settings it chose on validation override the config's.
    """
    model_dir = Path(model_dir)
    split = load_split(train_dir)
    chosen = json.loads(Path(tuned).read_text())["chosen"] if tuned is not None else {}
    overrides = {**(spec.get("overrides") or {}), **chosen}
    params = methods.params_for_split(
        spec["method"], split, overrides, EXPERIMENT_MODALITY[spec["modality"]]
    )
    start = time.perf_counter()
    fitted = methods.fit(
        spec["method"], spec["k"], split, params, device=spec["device"], seed=spec["seed"]
    )
    seconds = time.perf_counter() - start
    fitted.save(model_dir)
    steps = fitted.log or [{"step": 0, "fit_seconds": round(seconds, 4)}]
    write_log(steps, model_dir / "train.tsv")
    summary = {
        "method": spec["method"],
        "k": spec["k"],
        "seed": spec["seed"],
        "tuned": chosen or None,
        "fit_seconds": seconds,
        "n_train": {name: int(f.x.shape[0]) for name, f in split.fields.items()},
        "d": fitted.d,
        "h": getattr(fitted, "h", None),  # latents of the CSR family (the report's h axis)
        "training": fitted.summary,
        "hardware": hardware_info(),
        "embeddings": str(train_dir),
    }
    write_json(model_dir / "summary.json", summary)
    return summary


def encode_job(
    model_dir: str | Path, split_dirs: dict[str, str | Path], out_dir: str | Path, k: int | None
) -> dict:
    """Encode every field of each split at budget k into `out_dir/{split}/{field}.npz|.npy`.

    Sparse methods write fixed-k `.npz` codes, dense ones `.npy`; `codes.json` records
    the method, k, bytes per document and the shapes. One job covers all splits of a
    (method, budget) so the model is loaded once.
    """
    fitted = methods.load(model_dir)
    meta: dict[str, Any] = {
        "method": fitted.method,
        "k": k,
        "sparse": fitted.spec.sparse,
        "bytes_per_doc": fitted.bytes_per_doc(k),
        "model": str(model_dir),
        "splits": {},
    }
    with atomic_dir(out_dir) as tmp:
        for split_name, split_dir in split_dirs.items():
            split = load_split(split_dir)
            (tmp / split_name).mkdir(parents=True)
            fields: dict[str, Any] = {}
            for name, field in split.fields.items():
                start = time.perf_counter()
                codes = fitted.encode(np.asarray(field.x), k=k)
                seconds = time.perf_counter() - start
                if isinstance(codes, SparseCodes):
                    codes.save(tmp / split_name / f"{name}.npz")
                    fields[name] = {"shape": [codes.n, codes.k], "h": codes.h}
                else:
                    np.save(tmp / split_name / f"{name}.npy", codes)
                    fields[name] = {"shape": list(codes.shape)}
                fields[name]["seconds"] = seconds
            meta["splits"][split_name] = {"embeddings": str(split_dir), "fields": fields}
        write_json(tmp / META, meta)
    return meta
