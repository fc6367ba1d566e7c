"""digits: a fixed stratified split of scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import numpy as np
import pytest

from csrbench.data import DataError, load_split
from csrbench.data.digits import load


def test_split_sizes_disjoint_and_stratified() -> None:
    train, test = load("train"), load("test")
    tr, te = train.fields["image"], test.fields["image"]
    assert len(tr.items) + len(te.items) == 1797
    assert len(te.items) == 450  # ceil(0.25 * 1797)
    assert not set(tr.ids) & set(te.ids)
    # Stratified: every digit's share in test is within one image of 25%.
    counts_all = np.bincount(np.concatenate([tr.labels, te.labels]), minlength=10)
    counts_test = np.bincount(te.labels, minlength=10)
    assert np.all(np.abs(counts_test - 0.25 * counts_all) <= 1)
    assert train.relevance is None and train.provenance["n"] == len(tr.items)


def test_items_are_uint8_images_matching_ids() -> None:
    from sklearn.datasets import load_digits

    field = load("test").fields["image"]
    assert field.kind == "image"
    assert field.items.dtype == np.uint8 and field.items.shape[1:] == (8, 8)
    assert field.items.max() == 255 and field.items.min() == 0
    bunch = load_digits()
    index = int(field.ids[7].split("-")[1])
    assert field.ids[7] == f"digits-{index:04d}"
    assert field.labels[7] == bunch.target[index]
    np.testing.assert_array_equal(field.items[7], np.rint(bunch.images[index] * 255 / 16))


def test_deterministic_and_seeded() -> None:
    a, b = load("train"), load("train")
    np.testing.assert_array_equal(a.fields["image"].ids, b.fields["image"].ids)
    other = load("train", seed=1)
    assert list(other.fields["image"].ids) != list(a.fields["image"].ids)


def test_limit_is_stratified_subset() -> None:
    full = load("train")
    small = load_split("digits", "train", {"limit": 100})
    field = small.fields["image"]
    assert len(field.items) == 100
    assert set(field.ids) <= set(full.fields["image"].ids)
    assert np.all(np.bincount(field.labels, minlength=10) >= 9)  # 10 per digit, +-1
    assert list(field.ids) == sorted(field.ids)  # kept in load_digits order


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "val"}, r"unknown split 'val'.*\['train', 'test'\]"),
        ({"split": "train", "test_fraction": 1.5}, r"datasets\.mydigits\.params\.test_fraction"),
        ({"split": "train", "limit": 0}, r"datasets\.mydigits\.params\.limit"),
        ({"split": "train", "tset_fraction": 0.2}, r"unknown param.*tset_fraction"),
    ],
)
def test_bad_input_names_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load(name="mydigits", **kwargs)
