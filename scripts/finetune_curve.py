"""Adapter for rule `finetune_curve`: every checkpoint of one fine-tune scored on the
eval split at every k."""

import json
from pathlib import Path

import _srcpath  # noqa: F401  (puts this checkout's src/ first on sys.path)
import torch

from csrbench.finetune.curve import curve_job
from csrbench.finetune.loop import SUMMARY_JSON
from csrbench.joblog import job_log

smk = snakemake  # type: ignore[name-defined]  # noqa: F821  (injected by Snakemake)

with job_log(smk.log[0]) as log:
    torch.set_num_threads(smk.threads)
    p = smk.params
    summary = json.loads((Path(smk.input.finetuned) / SUMMARY_JSON).read_text())
    curve = curve_job(
        summary,
        p.dataset,
        p.dataset_name,
        p.train_split,
        p.eval_split,
        p.corpus,
        p.ks,
        p.embed,
        smk.output[0],
        chosen_dirs={s: smk.input[s] for s in p.splits},
        value_dtype=p.value_dtype,
    )
    for point in curve["points"]:
        log.info("step %d (%.1f s): %s", point["step"], point["seconds"], point["scores"])
