"""Image-text backbones from open_clip: images and texts into one shared space.

Config keys (`type: open_clip`):

    model        open_clip architecture (default "ViT-B-16", the paper's multimodal
                 backbone) or an "hf-hub:org/repo" / "local-dir:/path" model
    pretrained   a pretrained tag (default "laion2b_s34b_b88k"; downloaded on first use),
                 a local checkpoint file, or "random" (random init: tests only, marked
                 NOT pretrained in provenance)
    model_cfg    optional architecture dict (embed_dim, vision_cfg, text_cfg) registered
                 under `model`; used for tiny test models, since no CLIP weights exist
                 offline here
    normalize    L2-normalise embeddings (default true: CLIP's space is cosine-defined)
    num_workers  image-decoding worker processes for path items; default 2

Image arrays take the batched tensor path (see backbones.base), paths a DataLoader with
open_clip's own eval transform; texts are tokenised with the model's tokenizer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch

from csrbench.backbones.base import (
    ImageSpec,
    image_batches,
    iter_slices,
    require_kind,
    to_host,
)
from csrbench.backbones.weights import WeightsError, hash_source, library_versions
from csrbench.data.base import Field
from csrbench.devices import amp_dtype, autocast, dtype_name, gpu_name, resolve_device

RANDOM = "random"
NOT_PRETRAINED = "random-init: NOT pretrained"


def register_model_config(name: str, cfg: dict[str, Any]) -> None:
    """Make `name` a known open_clip architecture (idempotent for an identical config)."""
    missing = {"embed_dim", "vision_cfg", "text_cfg"} - set(cfg)
    if missing:
        raise ValueError(f"model_cfg for {name!r} lacks {sorted(missing)}")
    known = open_clip.get_model_config(name)
    if known is not None:
        if known == cfg:
            return
        raise ValueError(
            f"open_clip already has a different architecture named {name!r}; "
            "give the custom model_cfg another name"
        )
    folder = Path(tempfile.mkdtemp(prefix="csrbench-openclip-"))
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


class ClipBackbone:
    """An open_clip model that embeds "image" and "text" fields into the same space."""

    kinds = frozenset({"image", "text"})

    def __init__(
        self,
        model: str = "ViT-B-16",
        pretrained: str = "laion2b_s34b_b88k",
        model_cfg: dict[str, Any] | None = None,
        normalize: bool = True,
        num_workers: int = 2,
        device: str = "auto",
        amp: bool = False,
    ):
        self.name = model
        self.pretrained = str(pretrained)
        self.normalize = bool(normalize)
        self.num_workers = int(num_workers)
        self.device = resolve_device(device)
        self.amp_dtype = amp_dtype(self.device, amp)
        self.amp_requested = bool(amp)
        if model_cfg is not None:
            register_model_config(model, model_cfg)
        self._weights_info = self._resolve_weights(model, self.pretrained)
        arg = None if self.pretrained == RANDOM else self.pretrained
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                net, _, val_tf = open_clip.create_model_and_transforms(
                    model, pretrained=arg, device=self.device
                )
        except RuntimeError as err:
            raise WeightsError(
                f"open_clip could not build {model!r} with pretrained={self.pretrained!r}: {err}"
            ) from err
        self.model = net.eval().requires_grad_(False)
        self.pil_transform = val_tf
        self.tokenizer = open_clip.get_tokenizer(model)
        self.spec = _image_spec(self.model.visual.preprocess_cfg)
        self.dim = self._infer_dim()

    @staticmethod
    def _resolve_weights(model: str, pretrained: str) -> dict[str, Any]:
        if pretrained == RANDOM:
            return {"source": NOT_PRETRAINED, "sha256": None, "pretrained": False}
        if model.startswith(("hf-hub:", "local-dir:")):
            return {"source": model, "sha256": None, "pretrained": True}
        path = Path(os.path.expanduser(pretrained))
        if path.is_file():
            return {
                "source": str(path),
                "file": str(path.resolve()),
                "sha256": hash_source(path)[path.name],
                "pretrained": True,
            }
        cfg = open_clip.get_pretrained_cfg(model, pretrained)
        if not cfg:
            raise WeightsError(
                f"pretrained {pretrained!r} is neither a file nor a known tag of open_clip "
                f"model {model!r}; tags: {open_clip.list_pretrained_tags_by_model(model)}"
            )
        try:
            file = Path(open_clip.download_pretrained(cfg))
        except Exception as err:
            raise WeightsError(
                f"could not fetch open_clip weights {model}/{pretrained} "
                f"({type(err).__name__}: {err}); this needs internet or a populated cache"
            ) from err
        return {
            "source": f"open_clip:{model}/{pretrained}",
            "file": str(file),
            "sha256": hash_source(file)[file.name],
            "pretrained": True,
        }

    def _infer_dim(self) -> int:
        with torch.inference_mode():
            tokens = self.tokenizer(["a"]).to(self.device)
            return int(self.model.encode_text(tokens).shape[-1])

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        require_kind(self, field)
        if field.kind == "image":
            batches = image_batches(
                field.items,
                batch_size,
                self.spec,
                self.pil_transform,
                self.device,
                self.num_workers,
            )
            yield from to_host(self._encode_images(batches), self.device)
        else:
            yield from to_host(self._encode_texts(field.items, batch_size), self.device)

    def _encode_images(self, batches: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
        for x in batches:
            with torch.inference_mode(), autocast(self.device, self.amp_dtype):
                f = self.model.encode_image(x, normalize=self.normalize)
            yield f  # outside the contexts: the consumer runs while we are suspended

    def _encode_texts(self, texts: Any, batch_size: int) -> Iterator[torch.Tensor]:
        for sl in iter_slices(len(texts), batch_size):
            tokens = self.tokenizer([str(t) for t in texts[sl]])
            if self.device.type == "cuda":
                tokens = tokens.pin_memory()
            tokens = tokens.to(self.device, non_blocking=True)
            with torch.inference_mode(), autocast(self.device, self.amp_dtype):
                f = self.model.encode_text(tokens, normalize=self.normalize)
            yield f

    def provenance(self) -> dict[str, Any]:
        return {
            "type": "open_clip",
            "model": self.name,
            "model_cfg": open_clip.get_model_config(self.name),
            "weights": dict(self._weights_info, tag=self.pretrained),
            "dim": self.dim,
            "preprocessing": {
                "image": self.spec.as_dict(),
                "text": {
                    "tokenizer": type(self.tokenizer).__name__,
                    "context_length": getattr(self.tokenizer, "context_length", None),
                },
                "normalize": self.normalize,
                "in_memory_arrays": "uint8 batches resized/cropped/normalised as one tensor",
                "files": f"PIL decode + open_clip eval transform in {self.num_workers} worker(s)",
            },
            "device": str(self.device),
            "gpu": gpu_name(self.device),
            "amp": self.amp_dtype is not None,
            "amp_requested": self.amp_requested,
            "dtype": dtype_name(self.amp_dtype),
            "versions": library_versions("torch", "open_clip_torch", "torchvision", "numpy"),
        }

    def __repr__(self) -> str:
        return f"ClipBackbone({self.name!r}, pretrained={self.pretrained!r}, dim={self.dim})"


def _image_spec(cfg: dict[str, Any]) -> ImageSpec:
    """open_clip's eval transform (image_transform_v2, not training) as an ImageSpec."""
    size = cfg["size"]
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    mode = cfg.get("resize_mode", "shortest")
    if mode == "shortest" and h != w:
        mode = "keep_ratio"  # open_clip uses ResizeKeepRatio here: not reproduced on tensors
    return ImageSpec(
        resize_mode=mode,
        resize_size=h if mode == "shortest" else (h, w),
        crop_size=(h, w),
        interpolation=cfg.get("interpolation", "bicubic"),
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
    )
