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
    log.info("fitting %s (k=%s) on %s", spec["method"], spec["k"], smk.input[0])
    summary = train_job(smk.input[0], Path(smk.output.model).parent, spec)
    log.info("done in %.1f s", summary["fit_seconds"])
