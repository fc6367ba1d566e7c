"""Adapter for rule `bench`: retrieval timing of one (experiment, method, budget)."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)

from csrbench.joblog import job_log
from csrbench.speed import bench_job
from csrbench.timing import set_threads

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    set_threads(smk.threads)  # torch, faiss and numba alike: every engine on the job's cores
    result = bench_job(
        smk.input.codes,
        smk.input.eval,
        smk.params.train_split,
        smk.params.eval_split,
        smk.output[0],
        repeats=smk.params.repeats,
        corpus=smk.params.corpus,
    )
    for row in result["engines"]:
        log.info("%s: %.4f ms/query", row["engine"], row["ms_per_query"])
