"""Adapter for rule `embed`: load one split, embed each field, write it atomically."""

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.backbones import build_backbone
from csrbench.data import ValidationSpec, load_split
from csrbench.extract import extract_split
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    dataset, embed = smk.params.dataset, smk.params.embed
    w = smk.wildcards
    carve = dataset["validation"]  # the `val` split is carved out of the loader's train split
    validation = ValidationSpec(**carve) if carve is not None else None
    split = load_split(
        dataset["loader"], w.split, dataset["params"], name=w.dataset, validation=validation
    )
    backbone = build_backbone(smk.params.backbone, device=embed["device"], amp=embed["amp"])
    log.info(
        "embedding %s/%s with %s",
        smk.wildcards.dataset,
        smk.wildcards.split,
        smk.wildcards.backbone,
    )
    extract_split(
        split,
        backbone,
        out_dir=smk.output[0],
        resume_dir=smk.params.resume_dir,
        batch_size=embed["batch_size"],
        shard_rows=embed["shard_rows"],
        dtype=embed["dtype"],
    )
