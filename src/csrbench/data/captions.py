"""Image-caption retrieval sets (MS-COCO, Flickr30K) in Karpathy's split JSON.

The paper's multimodal results (Table 2) use the Karpathy splits that every
image-text retrieval paper uses: `dataset_coco.json` / `dataset_flickr30k.json` with
{"images": [{"filepath"?, "filename", "split", "sentences": [{"raw"}], "cocoid"/"imgid"}]}.
A split gives an "image" field (paths, lazily decoded) and a "text" field (one row
per caption), and relevance caption -> its image, which is what Recall@K in both
directions needs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csrbench.data.base import DataError, Field, Relevance, Split
from csrbench.data.splitting import (
    check_limit,
    check_split,
    config_key,
    existing_path,
    reject_unknown_params,
)

PARAMS = (
    "name",
    "karpathy_json",
    "image_root",
    "train_splits",
    "captions_per_image",
    "check_files",
    "limit",
    "seed",
)
SPLITS = ("train", "val", "test")
KARPATHY_SPLITS = ("train", "restval", "val", "test")
JSON_LAYOUT = (
    'Karpathy split JSON: {"images": [{"filename", "filepath" (optional), "split" in '
    'train/restval/val/test, "sentences": [{"raw": ...}], "cocoid" or "imgid"}]}'
)
IMAGE_LAYOUT = "image files at <image_root>/<filepath>/<filename> (COCO) or <image_root>/<filename>"


def _read_images(path: Path, name: str | None) -> list[dict[str, Any]]:
    key = config_key(name, "karpathy_json")
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{key}: {str(path)!r} is not valid JSON ({err}); expected {JSON_LAYOUT}"
        ) from err
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list) or not images:
        raise DataError(
            f"{key}: {str(path)!r} has no non-empty 'images' list; expected {JSON_LAYOUT}"
        )
    for i, entry in enumerate(images):
        if (
            not isinstance(entry, dict)
            or "filename" not in entry
            or "split" not in entry
            or not isinstance(entry.get("sentences"), list)
        ):
            raise DataError(
                f"{key}: images[{i}] lacks 'filename', 'split' or a 'sentences' list; "
                f"expected {JSON_LAYOUT}"
            )
    return images


def _image_id(entry: dict[str, Any], position: int) -> str:
    """COCO's cocoid, else Karpathy's imgid, else the position in the file."""
    for key in ("cocoid", "imgid"):
        if entry.get(key) is not None:
            return str(entry[key])
    return str(position)


def load(
    split: str,
    *,
    name: str | None = None,
    karpathy_json: str | os.PathLike[str] | None = None,
    image_root: str | os.PathLike[str] | None = None,
    train_splits: Sequence[str] = ("train", "restval"),
    captions_per_image: int | None = 5,
    check_files: bool = True,
    limit: int | None = None,
    seed: int = 0,
    **unknown: Any,
) -> Split:
    """Load the train, val or test split of a Karpathy caption set.

    `train_splits` says which Karpathy splits make our train split (COCO's usual
    113k-image train is train + restval). `captions_per_image` keeps the first N
    captions of each image (5 is the standard 5k-image / 25k-caption COCO test; null
    keeps all). `limit` keeps a seeded sample of that many images with all their
    captions. `check_files` verifies every image file exists before any embedding runs.
    """
    reject_unknown_params("captions", unknown, PARAMS, name)
    check_split(split, SPLITS, name)
    limit = check_limit(limit, name)
    captions_per_image = check_limit(captions_per_image, name, "captions_per_image")
    if isinstance(train_splits, str) or not set(train_splits) <= set(KARPATHY_SPLITS):
        raise DataError(
            f"{config_key(name, 'train_splits')} must be a list drawn from "
            f"{list(KARPATHY_SPLITS)}, got {train_splits!r}"
        )
    json_path = existing_path(karpathy_json, name, "karpathy_json", kind="file", expect=JSON_LAYOUT)
    root = existing_path(image_root, name, "image_root", kind="dir", expect=IMAGE_LAYOUT)
    images = _read_images(json_path, name)

    wanted = set(train_splits) if split == "train" else {split}
    chosen = [(i, e) for i, e in enumerate(images) if e["split"] in wanted]
    if not chosen:
        found = dict(Counter(e["split"] for e in images))
        raise DataError(
            f"{config_key(name, 'karpathy_json')}: no images with split in {sorted(wanted)} "
            f"(the file has {found}); check {config_key(name, 'train_splits')} or the file"
        )
    n_before = len(chosen)
    if limit is not None and limit < len(chosen):
        keep = np.sort(np.random.default_rng(seed).choice(len(chosen), size=limit, replace=False))
        chosen = [chosen[i] for i in keep]

    image_paths: list[str] = []
    image_ids: list[str] = []
    texts: list[str] = []
    text_ids: list[str] = []
    text_to_image: list[int] = []
    for row, (position, entry) in enumerate(chosen):
        image_id = _image_id(entry, position)
        image_paths.append(str(root / entry.get("filepath", "") / entry["filename"]))
        image_ids.append(image_id)
        sentences = entry["sentences"][:captions_per_image]
        if not sentences:
            raise DataError(
                f"{config_key(name, 'karpathy_json')}: image {entry['filename']!r} has no "
                f"sentences; expected {JSON_LAYOUT}"
            )
        for j, sentence in enumerate(sentences):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if not isinstance(raw, str):
                raise DataError(
                    f"{config_key(name, 'karpathy_json')}: image {entry['filename']!r} "
                    f"sentence {j} has no 'raw' text; expected {JSON_LAYOUT}"
                )
            texts.append(raw.strip())
            text_ids.append(f"{image_id}-{j}")
            text_to_image.append(row)

    if len(set(image_ids)) != len(image_ids):
        raise DataError(
            f"{config_key(name, 'karpathy_json')}: duplicate cocoid/imgid values in split "
            f"{split!r}; every image entry needs a unique id"
        )
    if check_files:
        missing = [p for p in image_paths if not os.path.isfile(p)]
        if missing:
            raise DataError(
                f"{config_key(name, 'image_root')}: {len(missing)} of {len(image_paths)} images "
                f"of split {split!r} are missing, e.g. {missing[:3]}; expected {IMAGE_LAYOUT} "
                f"(or set {config_key(name, 'check_files')}: false to skip this check)"
            )

    rows = np.arange(len(texts), dtype=np.int64)
    pairs = np.stack([rows, np.array(text_to_image, dtype=np.int64), np.ones_like(rows)], axis=1)
    return Split(
        dataset=name or "captions",
        split=split,
        fields={
            "image": Field("image", "image", image_paths, np.array(image_ids)),
            "text": Field("text", "text", texts, np.array(text_ids)),
        },
        relevance=Relevance("text", "image", pairs.reshape(-1, 3)),
        provenance={
            "loader": "captions",
            "source": str(json_path),
            "image_root": str(root),
            "karpathy_splits": sorted(wanted),
            "params": {
                "train_splits": list(train_splits),
                "captions_per_image": captions_per_image,
                "check_files": bool(check_files),
                "limit": limit,
                "seed": seed,
            },
            "n_images_before_limit": n_before,
            "n_images": len(image_paths),
            "n_captions": len(texts),
            "images_in_file": len(images),
        },
    )
