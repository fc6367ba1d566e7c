"""Adapter for rule `evaluate`: codes of one (method, budget, seed), then their metrics and
per-item scores."""

from pathlib import Path

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.evaluate import evaluate_job
from csrbench.joblog import job_log
from csrbench.jobs import encode_job

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    splits = {name: smk.input[name] for name in smk.params.splits}
    meta = encode_job(Path(smk.input.model).parent, splits, smk.output.codes, smk.params.k)
    log.info("encoded %s", meta["splits"])
    result = evaluate_job(
        smk.output.codes,
        splits,
        smk.params.train_split,
        smk.params.eval_split,
        smk.output.metrics,
        linear_probe=smk.params.linear_probe,
        experiment=smk.wildcards.experiment,
        seed=int(smk.wildcards.seed),
        items_path=smk.output.scores,
        corpus=smk.params.corpus,
    )
    log.info("metrics: %s", result["metrics"])
