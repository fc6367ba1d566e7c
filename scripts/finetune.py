"""Adapter for rule `finetune`: one seed's Matryoshka fine-tune of an experiment's backbone."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.finetune.job import finetune_job
from csrbench.finetune.params import FinetuneParams
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    job = smk.params.job
    params = FinetuneParams.from_config(job["finetune"])
    seed = int(smk.wildcards.seed)
    log.info(
        "fine-tuning %s for %s, seed %d: %s",
        job["backbone"],
        smk.wildcards.experiment,
        seed,
        params,
    )
    summary = finetune_job(
        job["dataset"],
        job["dataset_name"],
        job["backbone"],
        job["modality"],
        params,
        job["ks"],
        tuple(job["splits"]),
        seed,
        smk.output[0],
        device=job["device"],
    )
    for ckpt in summary["checkpoints"]:
        log.info(
            "step %d: %.1f s, validation loss %.4f", ckpt["step"], ckpt["seconds"], ckpt["val_loss"]
        )
    log.info("chose step %d", summary["chosen_step"])
