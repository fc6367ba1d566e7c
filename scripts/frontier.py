"""Adapter for rule `frontier`: accuracy per byte of every (method, k, codec)."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)

from csrbench.frontier import frontier_job
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    embeddings = {s: smk.input[s] for s in (smk.params.train_split, smk.params.eval_split)}
    result = frontier_job(
        smk.wildcards.experiment,
        list(smk.input.codes),
        embeddings,
        smk.params.train_split,
        smk.params.eval_split,
        list(smk.params.codecs),
        smk.output[0],
        corpus=list(smk.params.corpus),
    )
    front = [p for p in result["points"] if p["pareto"]]
    log.info(
        "%d points (%s), %d on the frontier, %.1f s",
        len(result["points"]),
        result["metric"],
        len(front),
        result["seconds"],
    )
