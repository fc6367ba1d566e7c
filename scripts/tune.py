"""Adapter for rule `tune`: a method's grid fitted on train, scored on validation."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.joblog import job_log
from csrbench.tune import tune_job

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    spec = smk.params.spec
    log.info("tuning %s at k=%s over %s", spec["method"], spec["k"], smk.params.grid)
    result = tune_job(smk.input.train, smk.input.val, spec, smk.params.grid, smk.output[0])
    for trial in result["trials"]:
        log.info("%s -> %s %.4f", trial["params"], result["metric"], trial["score"])
    log.info("chosen: %s", result["chosen"])
