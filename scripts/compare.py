"""Adapter for rule `compare`: paired tests of CSR against every method of an experiment."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)

from csrbench.compare import compare_job
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    result = compare_job(smk.wildcards.experiment, list(smk.input.metrics), smk.output[0])
    significant = sum(r["significant"] for r in result["comparisons"])
    log.info("%d comparisons, %d significant", len(result["comparisons"]), significant)
