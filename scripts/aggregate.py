"""Adapter for rule `aggregate`: one (method, budget)'s metrics over its seeds."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)

from csrbench.aggregate import aggregate_job
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    seeds = [path for name, path in smk.input.items() if name.startswith("seed")]
    result = aggregate_job(seeds, smk.output[0])
    log.info("seeds %s: %s", result["seeds"], result["metrics"])
