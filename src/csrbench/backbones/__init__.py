"""Backbones that turn images or texts into dense embeddings, registered by type.

Type names map to implementing classes as import strings, so config validation in
the workflow can check names without importing torch, timm or open_clip.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

BACKBONE_TYPES: dict[str, str] = {
    "timm": "csrbench.backbones.timm_backbone:TimmBackbone",
    "sentence-transformers": "csrbench.backbones.sentence_backbone:SentenceBackbone",
    "open_clip": "csrbench.backbones.clip_backbone:ClipBackbone",
    "precomputed": "csrbench.backbones.precomputed:PrecomputedBackbone",
}


def build_backbone(spec: dict[str, Any], device: str = "auto", amp: bool = False) -> Any:
    """Instantiate a backbone from its config entry (`type` plus type-specific keys).

    `device` and `amp` apply unless the entry sets them itself (a per-backbone choice,
    e.g. amp only for the large text model, wins over the run-wide one). The accepted
    keys of each type are documented in its module's docstring.
    """
    kind = spec.get("type")
    if kind not in BACKBONE_TYPES:
        raise ValueError(f"unknown backbone type {kind!r}; choose one of {sorted(BACKBONE_TYPES)}")
    module_name, cls_name = BACKBONE_TYPES[kind].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    params = {key: value for key, value in spec.items() if key != "type"}
    params.setdefault("device", device)
    params.setdefault("amp", amp)
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"backbone type {kind!r} does not take key(s) {unknown}; it takes {sorted(accepted)}"
        )
    return cls(**params)
