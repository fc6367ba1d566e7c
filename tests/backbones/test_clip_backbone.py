"""ClipBackbone with a tiny randomly initialised architecture (no CLIP weights offline)."""

from __future__ import annotations

import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from csrbench.backbones import build_backbone
from csrbench.backbones.clip_backbone import ClipBackbone
from csrbench.backbones.weights import WeightsError
from csrbench.data.base import Field

torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
SPEC = {
    "type": "open_clip",
    "model": "csrbench-tiny-clip",
    "pretrained": "random",
    "model_cfg": TINY,
}


def field(name: str, kind: str, items) -> Field:
    return Field(name, kind, items, np.array([str(i) for i in range(len(items))]))


@pytest.fixture(scope="module")
def clip() -> ClipBackbone:
    return build_backbone(SPEC, device="cpu")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 40, 48, 3), dtype=np.uint8)


CAPTIONS = ["a cat on a mat", "two dogs", "a red car parked outside", "x", "the sky"]


def run(bb, f: Field, batch_size: int = 2) -> np.ndarray:
    return np.concatenate(list(bb.embed(f, batch_size)))


def test_images_and_texts_share_one_space(clip, images) -> None:
    img = run(clip, field("image", "image", images))
    txt = run(clip, field("caption", "text", CAPTIONS))
    assert clip.dim == 32 and img.shape == (5, 32) and txt.shape == (5, 32)
    assert img.dtype == txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    assert clip.kinds == {"image", "text"}


def test_deterministic_random_init(clip, images) -> None:
    again = build_backbone(SPEC, device="cpu")
    f = field("image", "image", images)
    np.testing.assert_array_equal(run(clip, f), run(again, f, batch_size=2))
    t = field("caption", "text", CAPTIONS)
    np.testing.assert_allclose(run(clip, t, 5), run(again, t, 2), atol=1e-6)
    w = clip.provenance()["weights"]
    assert w["pretrained"] is False and "NOT pretrained" in w["source"]


def test_path_images_match_arrays(clip, images, tmp_path) -> None:
    paths = []
    for i, a in enumerate(images[:3]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(a).save(paths[-1])
    clip.num_workers = 0
    from_paths = run(clip, field("image", "image", paths))
    from_arrays = run(clip, field("image", "image", images[:3]))
    np.testing.assert_allclose(from_paths, from_arrays, atol=1e-3)


def test_local_checkpoint_round_trip(clip, images, tmp_path) -> None:
    ckpt = tmp_path / "tiny.pt"
    torch.save(clip.model.state_dict(), ckpt)
    loaded = ClipBackbone(model=SPEC["model"], pretrained=str(ckpt), device="cpu")
    f = field("image", "image", images)
    np.testing.assert_allclose(run(loaded, f), run(clip, f), atol=1e-6)
    w = loaded.provenance()["weights"]
    assert w["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert w["pretrained"] is True

    state = clip.model.state_dict()
    state.pop("text_projection")
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(WeightsError, match="text_projection"):
        ClipBackbone(model=SPEC["model"], pretrained=str(broken), device="cpu")


def test_bad_config(clip) -> None:
    with pytest.raises(WeightsError, match="neither a file nor a known tag"):
        ClipBackbone(model=SPEC["model"], pretrained="no-such-tag", device="cpu")
    with pytest.raises(ValueError, match="different architecture"):
        ClipBackbone(model="ViT-B-16", pretrained="random", model_cfg=TINY, device="cpu")
    vec = Field("v", "vector", np.zeros((2, 4), np.float32), np.array(["0", "1"]))
    with pytest.raises(ValueError, match=r"cannot embed field 'v' of kind 'vector'"):
        next(clip.embed(vec, 1))


def test_provenance_keys(clip) -> None:
    prov = clip.provenance()
    for key in ("type", "model", "model_cfg", "weights", "dim", "preprocessing", "device"):
        assert key in prov
    assert prov["preprocessing"]["image"]["crop_size"] == [32, 32] or tuple(
        prov["preprocessing"]["image"]["crop_size"]
    ) == (32, 32)
    assert prov["preprocessing"]["text"]["context_length"] == 16
    json.dumps(prov)  # goes into provenance.json as is
