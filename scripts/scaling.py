"""Adapter for rule `scaling`: retrieval time vs database size for one sparse model."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)

from csrbench.joblog import job_log
from csrbench.scaling import scaling_job, summary
from csrbench.timing import set_threads

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    set_threads(smk.threads)
    result = scaling_job(
        smk.input.codes,
        smk.input.eval,
        smk.params.train_split,
        smk.output[0],
        experiment=smk.wildcards.experiment,
        sizes=smk.params.sizes,
        gpu_sizes=smk.params.gpu_sizes,
        repeats=smk.params.repeats,
        progress=log.info,
    )
    log.info("summary\n%s", summary(result))
