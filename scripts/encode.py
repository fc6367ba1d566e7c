"""Adapter for rule `encode`: codes of one split from one fitted method at one budget."""

from pathlib import Path

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.joblog import job_log
from csrbench.jobs import encode_job

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    splits = {name: smk.input[name] for name in smk.params.splits}
    meta = encode_job(Path(smk.input.model).parent, splits, smk.output[0], smk.params.k)
    log.info("encoded %s", meta["splits"])
