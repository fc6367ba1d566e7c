"""Adapter for rules `embed` and `embed_finetuned`: load one split, embed each field,
write it atomically. `embed` names its backbone in params; `embed_finetuned` reads it
from the fine-tune's `backbone.json` (its validation-chosen checkpoint)."""

import json
from pathlib import Path

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.backbones import build_backbone
from csrbench.extract import extract_split
from csrbench.finetune.job import load_dataset_split
from csrbench.finetune.loop import BACKBONE_JSON
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    embed = smk.params.embed
    w = smk.wildcards
    finetuned = smk.input.get("finetuned")
    if finetuned is not None:
        spec = json.loads((Path(finetuned) / BACKBONE_JSON).read_text())
        name, source = smk.params.dataset_name, f"the fine-tune of {w.experiment}, seed {w.seed}"
    else:
        spec, name, source = smk.params.backbone, w.dataset, w.backbone
    # the `val` split is carved out of the loader's train split, as the config says
    split = load_dataset_split(smk.params.dataset, name, w.split)
    fields = None  # every field
    rel = split.relevance
    if finetuned is not None and w.split != smk.params.eval_split and rel is not None:
        # a fine-tuned backbone embeds what `evaluate` reads: off the eval split, the
        # documents (classification, the corpus, codec calibration), never the queries
        fields = [f for f in split.fields if f != rel.source]
    backbone = build_backbone(spec, device=embed["device"], amp=embed["amp"])
    log.info("embedding %s/%s (%s) with %s", name, w.split, fields or "every field", source)
    extract_split(
        split,
        backbone,
        out_dir=smk.output[0],
        resume_dir=smk.params.resume_dir,
        batch_size=embed["batch_size"],
        shard_rows=embed["shard_rows"],
        dtype=embed["dtype"],
        fields=fields,
    )
