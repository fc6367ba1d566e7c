"""What a method trains on, chosen once from a split.

A single-field split trains on that field (its labels, if any, are the classes); a
two-field split with relevance (query/doc, text/image) trains on the relevance pairs,
both fields through one shared model, the pairs being the contrastive positives.
`training_view` decides the fields and the modality (which picks the paper defaults)
once, before the parameters are built; `TrainingData.load` then reads exactly those
fields onto the training device without deciding anything again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from csrbench.methods.params import MODALITIES
from csrbench.store import SplitEmbeddings


@dataclass(frozen=True)
class TrainingView:
    """The fields a method trains on and the modality whose defaults it uses."""

    fields: list[str]
    modality: str


def training_view(split: SplitEmbeddings, fields: list[str] | None, modality: str) -> TrainingView:
    """Fields: explicit, else the relevance pair, else the only/"image" field; modality:
    explicit, else the embeddings' provenance, else what the fields suggest."""
    names = choose_fields(split, fields)
    mod = infer_modality(split, names) if modality == "auto" else modality
    if mod not in MODALITIES:
        raise ValueError(f"params.modality must be auto or one of {MODALITIES}, got {mod!r}")
    return TrainingView(names, mod)


def choose_fields(split: SplitEmbeddings, fields: list[str] | None) -> list[str]:
    """Fields to train on: explicit, else the relevance pair, else the only/"image" field."""
    if fields:
        for f in fields:
            split.field(f)
        if len(fields) > 2:
            raise ValueError(f"at most two fields can be trained on, got {fields}")
        return list(fields)
    rel = split.relevance
    if (
        rel is not None
        and rel.source in split.fields
        and rel.target in split.fields
        and rel.source != rel.target
    ):
        return [rel.source, rel.target]
    if len(split.fields) == 1:
        return list(split.fields)
    if "image" in split.fields:
        return ["image"]
    raise ValueError(
        f"cannot tell which field to train on among {sorted(split.fields)} (no relevance "
        "pairs); set params.fields"
    )


def infer_modality(split: SplitEmbeddings, fields: list[str]) -> str:
    prov = split.provenance or {}
    if prov.get("modality") in MODALITIES:
        return str(prov["modality"])
    if len(fields) == 2:
        return "multimodal" if set(fields) == {"text", "image"} else "text"
    return "image" if fields[0] == "image" else "text"


@dataclass
class TrainingData:
    """What trainers read: one tensor per field on the device, plus labels / pairs."""

    modality: str
    fields: list[str]
    x: list[Tensor]  # per field, [n_f, d], on device (kept in its stored float dtype)
    labels: Tensor | None  # [n] int64 (single field only), classes 0..C-1
    n_classes: int
    pairs: Tensor | None  # [m, 2] int64: row in fields[0], row in fields[1]
    logit_scale: float | None

    @property
    def d(self) -> int:
        return self.x[0].shape[1]

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    @property
    def n_units(self) -> int:
        return len(self.pairs) if self.pairs is not None else self.x[0].shape[0]

    @classmethod
    def load(
        cls,
        split: SplitEmbeddings,
        fields: list[str] | None,
        modality: str,
        device: torch.device,
    ) -> TrainingData:
        """`fields` (as `training_view` chose them) on `device`, the relevance pairs
        between them (two fields) or the labels as classes 0..C-1 (one field)."""
        if not fields:
            raise ValueError("no training fields: resolve them with training_view first")
        names = list(fields)
        xs = []
        for name in names:
            arr = np.asarray(split.field(name).x)
            if arr.dtype not in (np.float16, np.float32):
                arr = arr.astype(np.float32)
            xs.append(torch.from_numpy(np.array(arr, copy=True)).to(device))
        if len(xs) == 2 and xs[0].shape[1] != xs[1].shape[1]:
            raise ValueError(
                f"fields {names} have different widths {xs[0].shape[1]}, {xs[1].shape[1]}"
            )
        pairs = None
        if len(names) == 2:
            rel = split.relevance
            if rel is None:
                raise ValueError(f"two fields {names} but the split has no relevance pairs")
            p = rel.pairs[rel.pairs[:, 2] > 0][:, :2]
            if rel.source != names[0]:
                p = p[:, ::-1]
            pairs = torch.from_numpy(np.ascontiguousarray(p, dtype=np.int64)).to(device)
        labels, n_classes = None, 0
        lab = split.field(names[0]).labels if len(names) == 1 else None
        if lab is not None:
            uniq, inv = np.unique(np.asarray(lab), return_inverse=True)
            labels = torch.from_numpy(inv.astype(np.int64)).to(device)
            n_classes = len(uniq)
        scale = (split.provenance or {}).get("logit_scale")
        return cls(
            modality,
            list(names),
            xs,
            labels,
            n_classes,
            pairs,
            float(scale) if scale is not None else None,
        )


def prepare_data(
    split: SplitEmbeddings, fields: list[str] | None, modality: str, device: torch.device
) -> TrainingData:
    """`training_view` then `TrainingData.load`: the data a bare objective trains on."""
    view = training_view(split, fields, modality)
    return TrainingData.load(split, view.fields, view.modality, device)
