"""imagefolder: the ImageNet `root/<split>/<class>/<image>` layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csrbench.data import DataError, load_split
from csrbench.data.imagefolder import load


def test_train_split_paths_labels_ids(image_tree: Path) -> None:
    split = load("train", root=str(image_tree))
    field = split.fields["image"]
    assert field.kind == "image" and len(field.items) == 12  # notes.txt and .hidden ignored
    assert list(field.ids[:5]) == [
        "a/img00.png",
        "a/img01.png",
        "a/img02.png",
        "a/img03.png",
        "b/img00.png",
    ]
    assert np.bincount(field.labels).tolist() == [4, 6, 2]
    for path, ident in zip(field.items, field.ids, strict=True):
        assert path == str(image_tree / "train" / ident)
        with Image.open(path) as img:
            assert img.size == (5, 6)
    assert split.provenance["class_names"] == ["a", "b", "c"]


def test_test_split_uses_train_label_mapping(image_tree: Path) -> None:
    field = load("test", root=image_tree).fields["image"]
    # val has only a and c: labels index the train classes (a=0, c=2), not val's own.
    assert sorted(set(field.labels.tolist())) == [0, 2]
    assert np.bincount(field.labels).tolist() == [2, 0, 3]
    assert all(p.startswith(str(image_tree / "val")) for p in field.items)


def test_limits_are_per_class_then_stratified(image_tree: Path) -> None:
    per_class = load("train", root=image_tree, limit_per_class=2).fields["image"]
    assert np.bincount(per_class.labels).tolist() == [2, 2, 2]
    limited = load_split("imagefolder", "train", {"root": str(image_tree), "limit": 6})
    counts = np.bincount(limited.fields["image"].labels, minlength=3).tolist()
    assert counts == [2, 3, 1]  # 12 -> 6 keeps the 4:6:2 balance
    again = load("train", root=image_tree, limit=6).fields["image"]
    np.testing.assert_array_equal(again.ids, limited.fields["image"].ids)


def test_custom_split_mapping(image_tree: Path) -> None:
    shutil.copytree(image_tree / "val", image_tree / "holdout")
    split = load("eval", root=image_tree, splits={"train": "train", "eval": "holdout"})
    assert len(split.fields["image"].items) == 5
    with pytest.raises(DataError, match=r"unknown split 'test'.*\['train', 'eval'\]"):
        load("test", root=image_tree, splits={"train": "train", "eval": "holdout"})


def test_errors_name_the_key(image_tree: Path, make_png) -> None:
    with pytest.raises(DataError, match=r"datasets\.inet\.params\.root: no directory"):
        load("train", name="inet", root=image_tree / "missing")
    with pytest.raises(DataError, match=r"datasets\.inet\.params\.root is required"):
        load("train", name="inet")
    (image_tree / "train" / "d").mkdir()
    with pytest.raises(DataError, match=r"datasets\.inet\.params\.root: class directory .*d'"):
        load("train", name="inet", root=image_tree)
    (image_tree / "train" / "d").rmdir()
    make_png(image_tree / "val" / "zebra" / "x.png", 1)
    with pytest.raises(DataError, match=r"absent from the train split: \['zebra'\]"):
        load("test", name="inet", root=image_tree)
    with pytest.raises(DataError, match=r"datasets\.inet\.params\.root: no directory .*dev"):
        load("test", name="inet", root=image_tree, splits={"train": "train", "test": "dev"})
    with pytest.raises(DataError, match=r"datasets\.inet\.params\.limit_per_class"):
        load("train", name="inet", root=image_tree, limit_per_class=-1)
