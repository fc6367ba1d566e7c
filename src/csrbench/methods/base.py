"""One interface for every method: `fit` -> `FittedMethod` -> `encode` / `save` / `load`.

`fit` and `load` know no method by name: they look the method up in the registry, build
its typed parameters once, and hand over to the implementation class the spec names.
Each implementation (CSR family, MRL family, one class per baseline) provides

    fit(spec, k, split, params, device, seed)   train or compute the state
    from_saved(spec, config, params, tensors)   rebuild it from `save`'s directory
    _encode_batch(x, k), state_tensors()
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from csrbench.atomic import atomic_path, write_json
from csrbench.codes import index_dtype
from csrbench.devices import resolve_device
from csrbench.methods.data import training_view
from csrbench.methods.params import MethodParams, build_params, coerce
from csrbench.methods.registry import MethodSpec, method_spec
from csrbench.models.baselines import iter_blocks
from csrbench.store import SplitEmbeddings

FORMAT_VERSION = 1


def bytes_per_doc(
    method: str, k: int | None, d: int, h: int | None = None, value_dtype: str = "float16"
) -> int:
    """Storage per document at budget k (the bytes axis of every comparison), by the
    method's rule: sparse k * (index bytes + value bytes), the index int16 when
    h <= 32768 (h defaults to 4d); prefix min(k, d) values; dense d values;
    byte_per_dim d bytes (int8); bit_per_dim d bits (binary)."""
    rule = method_spec(method).bytes_rule
    vb = np.dtype(value_dtype).itemsize
    if rule == "byte_per_dim":
        return d
    if rule == "bit_per_dim":
        return math.ceil(d / 8)
    if rule == "dense":
        return d * vb
    if k is None:
        raise ValueError(f"{method} needs a budget k for its byte count")
    if rule == "sparse":
        return k * (index_dtype(h if h is not None else 4 * d).itemsize + vb)
    return min(k, d) * vb


class FittedMethod(ABC):
    """A fitted method: `encode` budgets, `save` / `load` its state.

    `k` is the budget it was fitted for (None for methods that serve every k);
    `encode(x, k=None)` encodes at `k` when given, else at the fitted k, else (dense
    methods) at full width.
    """

    sparse: bool = False

    def __init__(self, spec: MethodSpec, k: int | None, d: int, params: MethodParams) -> None:
        self.spec = spec
        self.method = spec.name
        self.k = k
        self.d = d
        self.params = params
        self.summary: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []
        self.device = torch.device("cpu")
        self.extra_config: dict[str, Any] = {}

    # implementations provide these
    @classmethod
    @abstractmethod
    def fit(
        cls,
        spec: MethodSpec,
        k: int | None,
        split: SplitEmbeddings,
        params: Any,
        device: torch.device,
        seed: int,
    ) -> FittedMethod:
        """Train (or compute) the method's state on `split` with the built `params`."""

    @classmethod
    @abstractmethod
    def from_saved(
        cls, spec: MethodSpec, config: dict[str, Any], params: Any, tensors: dict[str, Tensor]
    ) -> FittedMethod:
        """Rebuild from `save`'s config.json and tensors."""

    @abstractmethod
    def _encode_batch(self, x: Tensor, k: int | None) -> Any:
        """One block of rows, already on the device, at budget k."""

    @abstractmethod
    def state_tensors(self) -> dict[str, Tensor]:
        """What `save` writes to model.safetensors."""

    def _budget(self, k: int | None) -> int | None:
        return self.k if k is None else k

    def encode(self, x: np.ndarray | Tensor, k: int | None = None, value_dtype: str | None = None):
        """Encode rows of x: SparseCodes (sparse methods) or an [n, m] np.ndarray."""
        vd = value_dtype or self.params.value_dtype
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(
                f"{self.method} was fitted on width {self.d}, got input {tuple(x.shape)}"
            )
        outs = []
        for block in iter_blocks(x, rows=self.params.encode_batch_size):
            outs.append(self._encode_batch(block.to(self.device), self._budget(k)))
        return self._collect(outs, vd)

    def _collect(self, outs: list[Any], value_dtype: str) -> Any:
        if not outs:
            return np.zeros((0, 0), dtype=value_dtype)
        arr = torch.cat(outs).cpu()
        if arr.dtype == torch.int8:
            return arr.numpy()
        return arr.float().numpy().astype(value_dtype)

    def bytes_per_doc(self, k: int | None = None) -> int:
        return bytes_per_doc(
            self.method, self._budget(k), self.d, getattr(self, "h", None), self.params.value_dtype
        )

    def config(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "k": self.k,
            "d": self.d,
            "params": self.params.to_dict(),
            "summary": self.summary,
            **self.extra_config,
        }

    def save(self, directory: str | os.PathLike[str]) -> None:
        """model.safetensors, then config.json (its presence means the directory is
        complete), each written under a temporary name and renamed."""
        out = Path(directory)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_tensors().items()}
        with atomic_path(out / "model.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"method": self.method})
        write_json(out / "config.json", _jsonable(self.config()))

    def to(self, device: str | torch.device) -> FittedMethod:
        self.device = resolve_device(device)
        return self


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def params_for_split(
    method: str | MethodSpec,
    split: SplitEmbeddings,
    params: MethodParams | dict[str, Any] | None = None,
    modality: str = "auto",
) -> MethodParams:
    """The typed parameters `method` trains with on `split`, built once.

    A dict is checked and built here, after its fields and modality are resolved against
    the split (an "auto" modality, in the dict or in `modality`, is inferred from the
    data); typed parameters only get their fields resolved.
    """
    spec = method if isinstance(method, MethodSpec) else method_spec(method)
    if isinstance(params, MethodParams):
        if type(params) is not spec.params:
            raise TypeError(
                f"{spec.name} takes {spec.params.__name__}, got {type(params).__name__}"
            )
        view = training_view(split, params.fields, params.modality)
        return replace(params, fields=view.fields)
    raw = dict(params or {})
    fields = coerce(spec.params, "fields", raw["fields"]) if "fields" in raw else None
    mod = coerce(spec.params, "modality", raw.get("modality", modality))
    view = training_view(split, fields, mod)
    return build_params(
        spec.name, view.modality, {**raw, "fields": view.fields, "modality": view.modality}
    )


def fit(
    method: str,
    k: int | None,
    train: SplitEmbeddings,
    params: MethodParams | dict[str, Any] | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
) -> FittedMethod:
    """Fit `method` for budget k on a training split (k may be None where one fit serves all)."""
    spec = method_spec(method)
    if spec.per_k and (k is None or k <= 0):
        raise ValueError(f"{method} is fitted per budget: give k > 0")
    dev = resolve_device(device)
    p = params_for_split(spec, train, params)
    fitted: FittedMethod = spec.implementation_class().fit(spec, k, train, p, dev, seed)
    fitted.extra_config["seed"] = seed
    fitted.extra_config["train_provenance"] = train.provenance
    return fitted


def load(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> FittedMethod:
    """Rebuild a FittedMethod from `save`'s directory."""
    root = Path(directory)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{root} has no config.json: not a finished fitted method")
    cfg = json.loads(cfg_path.read_text())
    tensors = load_file(str(root / "model.safetensors"))
    spec = method_spec(cfg["method"])
    params = build_params(spec.name, cfg["params"]["modality"], cfg["params"])
    dev = resolve_device(device)
    fitted: FittedMethod = spec.implementation_class().from_saved(spec, cfg, params, tensors)
    fitted.summary = cfg.get("summary", {})
    fitted.extra_config = {
        key: v for key, v in cfg.items() if key in ("seed", "train_provenance", "n_classes")
    }
    return fitted.to(dev)
