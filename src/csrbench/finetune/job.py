"""The work behind rule `finetune`: load the experiment's training and validation
splits (raw texts or images), build the modality's task, run the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csrbench.data import ValidationSpec, load_split
from csrbench.data.base import Split
from csrbench.finetune.loop import run_finetune
from csrbench.finetune.params import FinetuneError, FinetuneParams


def task_class(modality: str) -> type:
    """The fine-tune task of an experiment's modality (image-text has none yet)."""
    if modality == "text":
        from csrbench.finetune.text import TextTask

        return TextTask
    if modality == "image":
        from csrbench.finetune.image import ImageTask

        return ImageTask
    raise FinetuneError(
        f"no Matryoshka fine-tune for modality {modality!r}: mrl-ft fine-tunes text "
        "(sentence-transformers) and image (timm) backbones; drop mrl-ft from this "
        "experiment or give finetune.backbone, a backbone trained with MRL already"
    )


def load_dataset_split(dataset: dict[str, Any], name: str, split: str) -> Split:
    """One split of a config dataset, with its validation carve, as `embed` loads it."""
    carve = dataset["validation"]
    validation = ValidationSpec(**carve) if carve is not None else None
    return load_split(dataset["loader"], split, dataset["params"], name=name, validation=validation)


def finetune_job(
    dataset: dict[str, Any],
    dataset_name: str,
    backbone: dict[str, Any],
    modality: str,
    params: FinetuneParams,
    ks: list[int],
    splits: tuple[str, str],
    seed: int,
    out_dir: str | Path,
    device: str = "auto",
) -> dict[str, Any]:
    """Fine-tune `backbone` on the (train, val) `splits`; commit `out_dir`."""
    import torch

    cls = task_class(modality)
    torch.manual_seed(seed)  # the classifiers' init and dropout
    train, val = (load_dataset_split(dataset, dataset_name, s) for s in splits)
    task = cls(backbone, train, val, params, ks, device)
    provenance = {
        "dataset": dataset_name,
        "splits": {"train": splits[0], "val": splits[1]},
        "backbone": backbone,
        "modality": modality,
    }
    return run_finetune(task, params, out_dir, seed, provenance)
