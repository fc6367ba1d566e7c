"""Images in the ImageNet folder layout: `root/<split_dir>/<class>/<image files>`.

Paper-scale image experiments (ImageNet-1k, RN50) read the standard layout; items are
file paths so a 1.28M-image split stays lazy and the backbone decodes batch by batch.
Labels index the train split's sorted class directories, so train and test share one
mapping even when a user's val folder lacks a class.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.data.base import DataError, Field, Split
from csrbench.data.splitting import (
    check_limit,
    check_split,
    config_key,
    existing_path,
    reject_unknown_params,
    stratified_subsample,
)

PARAMS = ("name", "root", "splits", "limit", "limit_per_class", "seed", "extensions")
DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
LAYOUT = (
    "expected root/<split_dir>/<class_name>/<image files>, e.g. imagenet/train/n01440764/x.JPEG"
)


def _class_dirs(split_dir: Path) -> list[str]:
    """Sorted names of the (non-hidden) class subdirectories of a split directory."""
    with os.scandir(split_dir) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _images(class_dir: Path, extensions: tuple[str, ...]) -> list[str]:
    """Sorted image file names in a class directory (case-insensitive extension match)."""
    with os.scandir(class_dir) as entries:
        return sorted(
            e.name
            for e in entries
            if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(extensions)
        )


def load(
    split: str,
    *,
    name: str | None = None,
    root: str | os.PathLike[str] | None = None,
    splits: Mapping[str, str] | None = None,
    limit: int | None = None,
    limit_per_class: int | None = None,
    seed: int = 0,
    extensions: list[str] | tuple[str, ...] | None = None,
    **unknown: Any,
) -> Split:
    """Load one split of an image folder tree.

    `splits` maps our split names to subdirectories of `root` (default train -> train,
    test -> val). `limit_per_class` keeps a seeded sample of that many images per class,
    then `limit` a label-stratified sample of the split; ids are `<class>/<file>`.
    """
    reject_unknown_params("imagefolder", unknown, PARAMS, name)
    splits = dict(splits) if splits is not None else {"train": "train", "test": "val"}
    if not splits or not all(isinstance(v, str) and v for v in splits.values()):
        raise DataError(
            f"{config_key(name, 'splits')} must map split names to subdirectories of root, "
            f"e.g. {{train: train, test: val}}; got {splits!r}"
        )
    check_split(split, splits, name)
    limit = check_limit(limit, name)
    limit_per_class = check_limit(limit_per_class, name, "limit_per_class")
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions or ())
    exts = exts or DEFAULT_EXTENSIONS
    root_path = existing_path(root, name, "root", kind="dir", expect=LAYOUT)

    split_dir = root_path / splits[split]
    if not split_dir.is_dir():
        raise DataError(
            f"{config_key(name, 'root')}: no directory {str(split_dir)!r} for split {split!r} "
            f"({config_key(name, 'splits')}.{split} = {splits[split]!r}); {LAYOUT}"
        )
    classes_here = _class_dirs(split_dir)
    if not classes_here:
        raise DataError(
            f"{config_key(name, 'root')}: {str(split_dir)!r} has no class dirs; {LAYOUT}"
        )
    # The label mapping comes from the train split so that every split agrees on it.
    if "train" in splits and split != "train":
        train_dir = root_path / splits["train"]
        if not train_dir.is_dir():
            raise DataError(
                f"{config_key(name, 'root')}: no directory {str(train_dir)!r}; the train split "
                f"defines the class -> label mapping; {LAYOUT}"
            )
        classes = _class_dirs(train_dir)
        unseen = sorted(set(classes_here) - set(classes))
        if unseen:
            raise DataError(
                f"{config_key(name, 'root')}: split {split!r} ({str(split_dir)!r}) has classes "
                f"absent from the train split: {unseen[:5]}{' ...' if len(unseen) > 5 else ''}; "
                "every class directory must also exist under the train directory"
            )
    else:
        classes = classes_here
    class_index = {c: i for i, c in enumerate(classes)}

    rng = np.random.default_rng(seed)
    paths: list[str] = []
    ids: list[str] = []
    labels: list[int] = []
    per_class: dict[str, int] = {}
    for cls in classes_here:
        files = _images(split_dir / cls, exts)
        if not files:
            raise DataError(
                f"{config_key(name, 'root')}: class directory {str(split_dir / cls)!r} holds no "
                f"images with extensions {list(exts)}; remove it or add images "
                f"(or set {config_key(name, 'extensions')})"
            )
        if limit_per_class is not None and len(files) > limit_per_class:
            keep = np.sort(rng.choice(len(files), size=limit_per_class, replace=False))
            files = [files[i] for i in keep]
        per_class[cls] = len(files)
        paths.extend(str(split_dir / cls / f) for f in files)
        ids.extend(f"{cls}/{f}" for f in files)
        labels.extend([class_index[cls]] * len(files))

    label_arr = np.array(labels, dtype=np.int64)
    rows = stratified_subsample(label_arr, limit, seed=seed)
    image = Field(
        name="image",
        kind="image",
        items=[paths[i] for i in rows],
        ids=np.array(ids)[rows],
        labels=label_arr[rows],
    )
    return Split(
        dataset=name or "imagefolder",
        split=split,
        fields={"image": image},
        provenance={
            "loader": "imagefolder",
            "source": str(split_dir),
            "params": {
                "root": str(root_path),
                "splits": splits,
                "limit": limit,
                "limit_per_class": limit_per_class,
                "seed": seed,
                "extensions": list(exts),
            },
            "n_classes": len(classes),
            "n_classes_in_split": len(classes_here),
            "class_names": classes,
            "n_before_limit": len(paths),
            "n": len(rows),
        },
    )
