"""Image: a timm backbone trained with MRL's nested linear classifiers (RAIVNLab/MRL):
one linear classifier per prefix width m of the pooled features, the cross-entropy of
every prefix summed, on the training split's labels.

The checkpoint is the backbone's state dict (no classifier) in `model.safetensors`, and
its backbone config entry pins the base's preprocessing (input size, interpolation,
mean and std): a local weights file would otherwise get timm's default data config for
the architecture, which for package weights is not the one they were trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import Tensor

from csrbench.backbones import build_backbone
from csrbench.backbones.base import image_batches
from csrbench.data.base import Split
from csrbench.finetune.params import FinetuneError, FinetuneParams
from csrbench.losses import matryoshka_loss
from csrbench.models.mrl import PrefixClassifiers

WEIGHTS = "model.safetensors"
_PREPROCESS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def labelled_images(split: Split) -> tuple[Any, np.ndarray]:
    field = split.fields.get("image")
    if field is None or field.labels is None:
        raise FinetuneError(
            f"split {split.split!r} of {split.dataset!r} has no labelled 'image' field: the "
            "image fine-tune trains nested classifiers on labels"
        )
    return field.items, np.asarray(field.labels, dtype=np.int64)


class ImageTask:
    """Summed cross-entropy of per-prefix linear classifiers on a timm backbone."""

    def __init__(
        self,
        spec: dict[str, Any],
        train: Split,
        val: Split,
        params: FinetuneParams,
        ks: list[int],
        device: str,
    ) -> None:
        if spec.get("type") != "timm":
            raise FinetuneError(
                f"the image fine-tune trains timm backbones, not {spec.get('type')!r}"
            )
        backbone = build_backbone(spec, device=device)
        self.spec, self.device = dict(spec), backbone.device
        self.image_spec, self.transform = backbone.spec, backbone.pil_transform
        self.data_config = backbone.data_config
        self.model = backbone.model.train().requires_grad_(True)
        self.items, labels = labelled_images(train)
        val_items, val_labels = labelled_images(val)
        n_classes = int(max(labels.max(), val_labels.max())) + 1
        self.labels = torch.as_tensor(labels, device=self.device)
        self.n_train = len(labels)
        rows = min(len(val_labels), params.val_batches * params.batch_size)
        self.val_items, self.val_labels = val_items[:rows], torch.as_tensor(val_labels[:rows])
        self.batch_size = params.batch_size
        self.nesting = params.nesting_for(backbone.dim, ks)
        self.classifiers = PrefixClassifiers(self.nesting, n_classes, efficient=False).to(
            self.device
        )

    def parameters(self) -> list[torch.nn.Parameter]:
        return [*self.model.parameters(), *self.classifiers.parameters()]

    def _pixels(self, items: Any) -> Tensor:
        return next(
            image_batches(items, len(items), self.image_spec, self.transform, self.device, 0)
        )

    def _loss(self, x: Tensor, y: Tensor) -> Tensor:
        z = self.model(x)
        loss, _ = matryoshka_loss(
            z, self.nesting, lambda zm, m: F.cross_entropy(self.classifiers.logits(zm, m), y)
        )
        return loss

    def train_loss(self, rows: np.ndarray) -> Tensor:
        items = (
            self.items[rows]
            if isinstance(self.items, np.ndarray)
            else [self.items[i] for i in rows]
        )
        return self._loss(self._pixels(items), self.labels[torch.as_tensor(rows)])

    def val_loss(self) -> float:
        """Mean nested loss on the validation sample, batch-norm in eval mode."""
        self.model.eval()
        total, n = 0.0, len(self.val_labels)
        with torch.no_grad():
            for start in range(0, n, self.batch_size):
                items = self.val_items[start : start + self.batch_size]
                y = self.val_labels[start : start + self.batch_size].to(self.device)
                total += float(self._loss(self._pixels(items), y)) * len(y)
        self.model.train()
        return total / n

    def save(self, out: Path, ref: str) -> dict[str, Any]:
        out.mkdir(parents=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(out / WEIGHTS))
        cfg = self.data_config
        preprocess = {
            key: list(cfg[key]) if isinstance(cfg[key], tuple) else cfg[key]
            for key in _PREPROCESS
            if key in cfg
        }
        return {
            **self.spec,
            "weights": f"{ref}/{WEIGHTS}",
            "preprocess": preprocess,
            "num_classes": 0,
        }
