"""Adapter for rule `train`: fit one method at one budget on the training split."""

from pathlib import Path

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.joblog import job_log
from csrbench.jobs import train_job

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    spec = smk.params.spec
    tuned = smk.input.get("tuned")
    log.info(
        "fitting %s (k=%s, seed %s) on %s", spec["method"], spec["k"], spec["seed"], smk.input.train
    )
    summary = train_job(smk.input.train, Path(smk.output.model).parent, spec, tuned=tuned)
    log.info("done in %.1f s", summary["fit_seconds"])
