"""captions: Karpathy-split COCO/Flickr JSON plus an image directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from csrbench.data import DataError, load_split
from csrbench.data.captions import load


def _load(karpathy: tuple[Path, Path], split: str, **kw) -> object:
    path, root = karpathy
    return load(split, name="coco", karpathy_json=str(path), image_root=str(root), **kw)


def test_train_is_train_plus_restval(karpathy: tuple[Path, Path]) -> None:
    split = _load(karpathy, "train")
    image, text = split.fields["image"], split.fields["text"]
    assert image.kind == "image" and text.kind == "text"
    assert list(image.ids) == ["1000", "1001", "1002", "1003", "1004", "1005"]  # cocoid
    assert all(Path(p).is_file() for p in image.items)
    assert image.items[4].endswith("val2014/COCO_val2014_000000000004.png")  # restval
    # captions_per_image=5 caps the 6- and 7-caption images.
    assert len(text.items) == 6 * 5
    assert text.items[0] == "image 0 caption 0"
    assert text.ids[7] == "1001-2"


def test_relevance_links_each_caption_to_its_image(karpathy: tuple[Path, Path]) -> None:
    split = _load(karpathy, "test", captions_per_image=None)
    rel = split.relevance
    assert rel is not None and (rel.source, rel.target) == ("text", "image")
    n_text = len(split.fields["text"].items)
    assert n_text == 7 + 5  # images 8 and 9 have 8 % 3 + 5 and 9 % 3 + 5 captions
    assert rel.pairs.shape == (n_text, 3)
    np.testing.assert_array_equal(rel.pairs[:, 0], np.arange(n_text))
    image_ids = split.fields["image"].ids
    for row, target, grade in rel.pairs:
        caption_id = split.fields["text"].ids[row]
        assert caption_id.split("-")[0] == image_ids[target] and grade == 1


def test_val_split_and_custom_train_splits(karpathy: tuple[Path, Path]) -> None:
    assert list(_load(karpathy, "val").fields["image"].ids) == ["1006", "1007"]
    only_train = _load(karpathy, "train", train_splits=["train"])
    assert len(only_train.fields["image"].items) == 4


def test_limit_counts_images_and_keeps_their_captions(karpathy: tuple[Path, Path]) -> None:
    path, root = karpathy
    params = {"karpathy_json": str(path), "image_root": str(root), "limit": 3}
    split = load_split("captions", "train", params)
    assert len(split.fields["image"].items) == 3
    assert len(split.fields["text"].items) == 15
    assert split.relevance.pairs[:, 1].max() == 2
    again = load_split("captions", "train", params)
    np.testing.assert_array_equal(split.fields["image"].ids, again.fields["image"].ids)


def test_errors_name_the_key(karpathy: tuple[Path, Path], tmp_path: Path) -> None:
    path, root = karpathy
    with pytest.raises(DataError, match=r"unknown split 'restval'.*\['train', 'val', 'test'\]"):
        _load(karpathy, "restval")
    with pytest.raises(DataError, match=r"datasets\.coco\.params\.karpathy_json: no file"):
        load("train", name="coco", karpathy_json=str(tmp_path / "x.json"), image_root=str(root))
    with pytest.raises(DataError, match=r"datasets\.coco\.params\.image_root is required"):
        load("train", name="coco", karpathy_json=str(path))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(DataError, match=r"no non-empty 'images' list"):
        load("train", name="coco", karpathy_json=str(bad), image_root=str(root))
    next(root.glob("val2014/*0008.png")).unlink()
    with pytest.raises(DataError, match=r"datasets\.coco\.params\.image_root: 1 of 2 images"):
        _load(karpathy, "test")
    assert len(_load(karpathy, "test", check_files=False).fields["image"].items) == 2
    with pytest.raises(DataError, match=r"datasets\.coco\.params\.train_splits"):
        _load(karpathy, "train", train_splits=["training"])
