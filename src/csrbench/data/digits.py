"""scikit-learn's handwritten digits (1797 8x8 images, 10 classes) as an image dataset.

It ships inside scikit-learn, so the embedded default experiment and CI have a real,
labelled image set with no download. The split is a fixed stratified train/test split
so every run (and every machine) sees the same images in the same split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from csrbench.data.base import Field, Split
from csrbench.data.splitting import (
    DEFAULT_SPLITS,
    check_fraction,
    check_limit,
    check_split,
    reject_unknown_params,
    stratified_subsample,
)

PARAMS = ("name", "test_fraction", "seed", "limit")


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Sorted indices of the stratified train and test parts of the digits set."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(
        index, test_size=test_fraction, stratify=labels, random_state=seed, shuffle=True
    )
    return {"train": np.sort(train), "test": np.sort(test)}


def load(
    split: str,
    *,
    name: str | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    limit: int | None = None,
    **unknown: Any,
) -> Split:
    """Load the train or test split of `sklearn.datasets.load_digits`.

    Images are uint8 8x8 arrays, the 0..16 ink counts rescaled to 0..255 so that image
    backbones see the usual pixel range; labels are the digits; ids are
    `digits-NNNN` (the row in `load_digits`, so they are stable across params).
    """
    reject_unknown_params("digits", unknown, PARAMS, name)
    check_split(split, DEFAULT_SPLITS, name)
    test_fraction = check_fraction(test_fraction, name, "test_fraction")
    limit = check_limit(limit, name)
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels_all = bunch.target.astype(np.int64)
    images_all = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    parts = split_indices(labels_all, test_fraction, seed)
    rows = parts[split]
    rows = rows[stratified_subsample(labels_all[rows], limit, seed=seed)]
    ids = np.array([f"digits-{i:04d}" for i in rows])
    image = Field(
        name="image", kind="image", items=images_all[rows], ids=ids, labels=labels_all[rows]
    )
    return Split(
        dataset=name or "digits",
        split=split,
        fields={"image": image},
        provenance={
            "loader": "digits",
            "source": "sklearn.datasets.load_digits",
            "sklearn_version": sklearn.__version__,
            "params": {"test_fraction": test_fraction, "seed": seed, "limit": limit},
            "n_total": len(labels_all),
            "n_split_before_limit": len(parts[split]),
            "n": len(rows),
            "n_classes": len(np.unique(labels_all)),
            "image_shape": [8, 8],
            "pixel_scaling": "0..16 -> 0..255 (x 255/16, rounded)",
        },
    )
