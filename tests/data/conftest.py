"""Fixtures for the loader tests: tiny on-disk datasets in the layouts real data uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def write_png(path: Path, seed: int, size: tuple[int, int] = (6, 5)) -> None:
    """A small random RGB PNG, written with PIL as real image folders hold."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


@pytest.fixture()
def make_png() -> Callable[[Path, int], None]:
    return write_png


@pytest.fixture()
def image_tree(tmp_path: Path) -> Path:
    """ImageNet layout: train has classes a, b, c (4, 6, 2 images); val has a, c (2, 3)."""
    root = tmp_path / "imgs"
    counts = {"train": {"a": 4, "b": 6, "c": 2}, "val": {"a": 2, "c": 3}}
    seed = 0
    for split_dir, classes in counts.items():
        for cls, n in classes.items():
            for i in range(n):
                seed += 1
                write_png(root / split_dir / cls / f"img{i:02d}.png", seed)
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    (root / "train" / ".hidden").mkdir()
    return root


@pytest.fixture()
def karpathy(tmp_path: Path) -> tuple[Path, Path]:
    """A COCO-style Karpathy JSON over 10 PNGs: 4 train, 2 restval, 2 val, 2 test.

    Image k has k % 3 + 5 captions (5..7) so the captions_per_image cap is observable.
    """
    image_root = tmp_path / "coco"
    images = []
    splits = ["train"] * 4 + ["restval"] * 2 + ["val"] * 2 + ["test"] * 2
    for k, split in enumerate(splits):
        folder = "val2014" if split in ("val", "test", "restval") else "train2014"
        filename = f"COCO_{folder}_{k:012d}.png"
        write_png(image_root / folder / filename, 100 + k)
        images.append(
            {
                "filepath": folder,
                "filename": filename,
                "split": split,
                "imgid": k,
                "cocoid": 1000 + k,
                "sentences": [
                    {"raw": f" image {k} caption {j} ", "tokens": [], "sentid": 10 * k + j}
                    for j in range(k % 3 + 5)
                ],
            }
        )
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": images, "dataset": "coco"}))
    return path, image_root
