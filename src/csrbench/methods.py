"""Every method behind one interface: `fit` -> `FittedMethod` -> `encode` / `save` / `load`.

    fitted = fit("csr", k=32, train=load_split(dir), params={...}, device="auto", seed=0)
    codes = fitted.encode(x)            # SparseCodes for sparse methods, np.ndarray otherwise
    fitted.save(out_dir)                # model.safetensors + config.json (atomic)
    write_log(fitted.log, "train.tsv")  # per-step training log (trained methods)
    fitted = load(out_dir)

Methods (`METHODS` holds their metadata):

    csr      CSR: TopK SAE + multi-k + AuxK + contrastive (the paper); one fit per k
    sae      CSR without the contrastive term (gamma = 0); one fit per k
    csr-v2   CSR with k annealed from k_init to k and label/pair-supervised contrastive
    mrl      Matryoshka head on the frozen embedding; one fit serves every m (= k)
    mrl-e    MRL with one weight-shared classifier (MRL-E)
    full     the embedding itself (d dims)
    trunc    first m dims;  pca: top m principal components;  randfs: m random dims
    int8     the full embedding, symmetric int8 (d bytes)
    binary   the full embedding, one bit per dim (+-1 codes, d/8 bytes packed)

Parameters: `method_defaults(method, modality)` gives every key a method accepts with its
default; unknown keys are an error (a typo in a config must not silently do nothing).
Training data: a single-field split trains on that field (its labels, if any, are the
classes); a two-field split with relevance (query/doc, text/image) trains on the
relevance pairs, both fields through one shared model, the pairs being the contrastive
positives.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor

from csrbench.codes import SparseCodes, index_dtype
from csrbench.losses import (
    auxk_loss,
    auxk_loss_paper,
    cosine_logits,
    false_negative_mask,
    info_nce_pairs,
    info_nce_self,
    matryoshka_loss,
    mse,
    nesting_dims,
    normalize_code_values,
    similarity_preservation,
    sparse_code_similarity,
)
from csrbench.method_catalog import METHODS as METHODS  # re-exported: the registry
from csrbench.method_catalog import method_info
from csrbench.models.baselines import (
    binarize,
    fit_int8_scale,
    fit_pca,
    iter_blocks,
    quantize_int8,
    random_permutation,
)
from csrbench.models.csr import CSR
from csrbench.models.mrl import MRLHead, PrefixClassifiers
from csrbench.store import SplitEmbeddings
from csrbench.train import TrainConfig, resolve_device, train

FORMAT_VERSION = 1
MODALITIES = ("image", "text", "multimodal")


# The paper's settings per modality (its code's defaults where the paper is silent).
# Multimodal: the paper's CLIP code uses batch 64, 3 epochs and a cosine schedule with
# warm-up; we keep one constant-lr recipe for all modalities and say so in the report.
CSR_PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "image": {"lr": 4e-4, "batch_size": 4096, "epochs": 10, "gamma": 0.1},
    "text": {"lr": 4e-4, "batch_size": 128, "epochs": 10, "gamma": 1.0},
    "multimodal": {"lr": 4e-4, "batch_size": 128, "epochs": 10, "gamma": 1.0},
}

_COMMON_TRAIN: dict[str, Any] = {
    "adam_eps": 6.25e-10,
    "betas": [0.9, 0.999],
    "weight_decay": 0.0,
    "amp": "auto",
    "max_steps": None,
    "progress": True,
    "sync_every": 50,
    "drop_last": True,
}

_CSR_COMMON: dict[str, Any] = {
    **_COMMON_TRAIN,
    "modality": "auto",
    "fields": None,
    "h": None,
    "expansion": 4,
    "tied": True,
    "k_aux": 512,
    "dead_threshold": 10,
    "beta": 1 / 32,
    "auxk_form": "residual",
    "multi_k": 4,
    "multi_k_weight": 1 / 8,
    "temperature": 0.2,
    "positives": "auto",
    "contrastive_on": "auto",
    "symmetric": "auto",
    "logit_scale": None,
    "init_pre_bias": "zeros",
    "sparse_backward": "auto",
    "value_dtype": "float16",
    "encode_batch_size": 8192,
}

_MRL_COMMON: dict[str, Any] = {
    **_COMMON_TRAIN,
    "adam_eps": 1e-8,
    "modality": "auto",
    "fields": None,
    "head": "linear",
    "mlp_hidden": None,
    "nesting": None,
    "smallest_m": 8,
    "objective": "auto",
    "temperature": 0.2,
    "symmetric": "auto",
    "logit_scale": None,
    "value_dtype": "float16",
    "encode_batch_size": 8192,
}

_BASELINE: dict[str, Any] = {
    "value_dtype": "float16",
    "encode_batch_size": 65536,
    "modality": "auto",
    "fields": None,
}


PARAM_HELP: dict[str, str] = {
    # data
    "modality": "auto|image|text|multimodal: picks the paper defaults (auto: from the fields)",
    "fields": "fields to train on (default: the relevance pair, else the only/'image' field)",
    # optimisation (trained methods)
    "lr": "Adam learning rate (constant)",
    "batch_size": "training units per step: rows, or relevance pairs for two-field splits",
    "epochs": "passes over the training units",
    "adam_eps": "Adam epsilon (the paper: 6.25e-10)",
    "betas": "Adam betas",
    "weight_decay": "Adam weight decay",
    "amp": "auto|true|false: bf16 autocast on CUDA (ignored on CPU)",
    "max_steps": "stop after this many steps (tests, smoke runs); null = all epochs",
    "progress": "show a tqdm progress bar",
    "sync_every": "copy log values to the host every N steps (GPU runs sync only then)",
    "drop_last": "drop the last partial batch of an epoch",
    # CSR family
    "h": "number of latents (null: expansion * d)",
    "expansion": "h = expansion * d when h is null (the paper: 4)",
    "tied": "decoder = encoder transpose (one parameter), as the paper",
    "k_aux": "AuxK: how many dead latents reconstruct the residual (the paper: 512)",
    "dead_threshold": "a latent is dead after this many optimiser steps without firing",
    "beta": "weight of the AuxK loss (1/32)",
    "auxk_form": "residual (zero when nothing is dead) | paper (the paper code's form)",
    "multi_k": "multi-k loss uses the top multi_k * k latents (4)",
    "multi_k_weight": "weight of the multi-k reconstruction loss (1/8)",
    "gamma": "weight of the contrastive loss (0.1 image, 1.0 text/multimodal; sae: 0)",
    "temperature": "InfoNCE temperature on L2-normalised codes (0.2)",
    "positives": "auto|pairs|labels|self: what counts as a contrastive positive",
    "contrastive_on": "auto|codes|recon: contrast sparse codes, or (CLIP form) reconstructions",
    "symmetric": "auto|true|false: both retrieval directions (auto: multimodal only)",
    "logit_scale": "scale of the 'recon' form / multimodal MRL (null: provenance, else 100)",
    "init_pre_bias": "zeros (the paper) | mean of the training rows",
    "sparse_backward": "auto|true|false: encoder gradient by sparse matmul (auto by K/h)",
    "k_init": "csr-v2: k at the first step, annealed linearly to k",
    "anneal_frac": "csr-v2: fraction of the steps over which k is annealed (0.7)",
    # MRL
    "head": "linear | mlp (residual MLP); both start at the identity",
    "mlp_hidden": "hidden width of the mlp head (null: d)",
    "nesting": "prefix sizes m (null: 8, 16, 32, ... up to d, plus the fitted k)",
    "smallest_m": "smallest prefix of the default nesting",
    "objective": "auto|labels|pairs|similarity (auto: pairs, else labels, else similarity)",
    # encoding and baselines
    "value_dtype": "dtype of encoded values (and of the bytes axis): float16 | float32",
    "encode_batch_size": "rows per encode batch",
    "center": "pca: subtract the training mean",
    "int8_quantile": "int8: quantile of |x| mapped to 127 (1.0 = the max)",
    "binary_center": "binary: threshold each dim at its training mean (else at 0)",
}


def method_defaults(method: str, modality: str = "text") -> dict[str, Any]:
    """Every parameter `method` accepts, with its default for `modality`."""
    info = _info(method)
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if info.family == "csr":
        p = {**_CSR_COMMON, **CSR_PAPER_DEFAULTS[modality]}
        if method == "sae":
            p["gamma"] = 0.0
        if method == "csr-v2":
            p.update({"k_init": 64, "anneal_frac": 0.7})
        return p
    if info.family == "mrl":
        p = {
            **_MRL_COMMON,
            **{k: CSR_PAPER_DEFAULTS[modality][k] for k in ("batch_size", "epochs")},
        }
        p["lr"] = 1e-3
        return p
    p = dict(_BASELINE)
    if method == "pca":
        p["center"] = True
    if method == "int8":
        p["int8_quantile"] = 1.0
    if method == "binary":
        p["binary_center"] = True
    return p


_info = method_info


def bytes_per_doc(
    method: str, k: int | None, d: int, h: int | None = None, value_dtype: str = "float16"
) -> int:
    """Storage per document at budget k (the bytes axis of every comparison).

    Sparse: k * (index bytes + value bytes), the index int16 when h <= 32768 (h defaults
    to 4d). Dense prefix methods: k * value bytes. full: d values. int8: d. binary: d/8.
    """
    info = _info(method)
    vb = np.dtype(value_dtype).itemsize
    if method == "int8":
        return d
    if method == "binary":
        return math.ceil(d / 8)
    if method == "full":
        return d * vb
    if k is None:
        raise ValueError(f"{method} needs a budget k for its byte count")
    if info.sparse:
        return k * (index_dtype(h if h is not None else 4 * d).itemsize + vb)
    return min(k, d) * vb


# ---- training data ------------------------------------------------------------------


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


def prepare_data(
    split: SplitEmbeddings, fields: list[str] | None, modality: str, device: torch.device
) -> TrainingData:
    names = choose_fields(split, fields)
    mod = infer_modality(split, names) if modality == "auto" else modality
    if mod not in MODALITIES:
        raise ValueError(f"params.modality must be auto or one of {MODALITIES}, got {mod!r}")
    xs = []
    for name in names:
        arr = np.asarray(split.field(name).x)
        if arr.dtype not in (np.float16, np.float32):
            arr = arr.astype(np.float32)
        xs.append(torch.from_numpy(np.array(arr, copy=True)).to(device))
    if len(xs) == 2 and xs[0].shape[1] != xs[1].shape[1]:
        raise ValueError(f"fields {names} have different widths {xs[0].shape[1]}, {xs[1].shape[1]}")
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
    prov = split.provenance or {}
    scale = prov.get("logit_scale")
    return TrainingData(
        mod, names, xs, labels, n_classes, pairs, float(scale) if scale is not None else None
    )


# ---- fitted methods -----------------------------------------------------------------


class FittedMethod:
    """A fitted method: `encode` budgets, `save` / `load` its state.

    `k` is the budget it was fitted for (None for methods that serve every k);
    `encode(x, k=None)` encodes at `k` when given, else at the fitted k, else (dense
    methods) at full width.
    """

    method: str
    sparse: bool = False

    def __init__(self, method: str, k: int | None, d: int, params: dict[str, Any]) -> None:
        self.method = method
        self.k = k
        self.d = d
        self.params = params
        self.summary: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []
        self.device = torch.device("cpu")
        self.extra_config: dict[str, Any] = {}

    # subclasses implement these two
    def _encode_batch(self, x: Tensor, k: int | None) -> Any:
        raise NotImplementedError

    def state_tensors(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def _budget(self, k: int | None) -> int | None:
        return self.k if k is None else k

    def encode(self, x: np.ndarray | Tensor, k: int | None = None, value_dtype: str | None = None):
        """Encode rows of x: SparseCodes (sparse methods) or an [n, m] np.ndarray."""
        vd = value_dtype or self.params.get("value_dtype", "float32")
        bs = int(self.params.get("encode_batch_size", 8192))
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(
                f"{self.method} was fitted on width {self.d}, got input {tuple(x.shape)}"
            )
        outs = []
        for block in iter_blocks(x, rows=bs):
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
            self.method,
            self._budget(k),
            self.d,
            getattr(self, "h", None),
            self.params.get("value_dtype", "float16"),
        )

    def config(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "k": self.k,
            "d": self.d,
            "params": self.params,
            "summary": self.summary,
            **self.extra_config,
        }

    def save(self, directory: str | os.PathLike[str]) -> None:
        """model.safetensors then config.json, each written to a temporary name and renamed
        (config.json last: its presence means the directory is complete)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_tensors().items()}
        tmp = out / "model.safetensors.tmp"
        save_file(tensors, str(tmp), metadata={"method": self.method})
        os.replace(tmp, out / "model.safetensors")
        tmp = out / "config.json.tmp"
        tmp.write_text(json.dumps(_jsonable(self.config()), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, out / "config.json")

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


class FittedCSR(FittedMethod):
    sparse = True

    def __init__(self, method: str, k: int | None, d: int, params: dict[str, Any], model: CSR):
        super().__init__(method, k, d, params)
        self.model = model
        self.h = model.h

    def to(self, device: str | torch.device) -> FittedCSR:
        super().to(device)
        self.model.to(self.device)
        return self

    def _encode_batch(self, x: Tensor, k: int | None) -> tuple[Tensor, Tensor]:
        self.model.eval()
        return self.model.encode(x.float(), k)

    def _collect(self, outs: list[Any], value_dtype: str) -> SparseCodes:
        idx = torch.cat([o[0] for o in outs]) if outs else torch.zeros(0, self.k or 0)
        vals = torch.cat([o[1] for o in outs]) if outs else torch.zeros(0, self.k or 0)
        return SparseCodes.from_torch(idx, vals, self.h, value_dtype=value_dtype)

    def state_tensors(self) -> dict[str, Tensor]:
        return dict(self.model.state_dict())

    def config(self) -> dict[str, Any]:
        c = super().config()
        c["h"] = self.h
        return c


class FittedMRL(FittedMethod):
    def __init__(self, method, k, d, params, head: MRLHead, classifiers: PrefixClassifiers | None):
        super().__init__(method, k, d, params)
        self.head = head
        self.classifiers = classifiers

    def to(self, device: str | torch.device) -> FittedMRL:
        super().to(device)
        self.head.to(self.device)
        return self

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        self.head.eval()
        z = self.head(x.float())
        return z if k is None else z[:, :k]

    def state_tensors(self) -> dict[str, Tensor]:
        t = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        if self.classifiers is not None:
            t.update({f"classifiers.{k}": v for k, v in self.classifiers.state_dict().items()})
        return t


class FittedLinearBaseline(FittedMethod):
    """full / trunc / randfs / pca: y = ((x - mean) @ P^T)[:, :m] with P a rotation or a
    row selection; trunc and randfs just index columns."""

    def __init__(self, method, k, d, params, tensors: dict[str, Tensor]):
        super().__init__(method, k, d, params)
        self.tensors = tensors

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        m = self.d if k is None else min(k, self.d)
        if self.method in ("full", "trunc"):
            return x[:, :m].float()
        if self.method == "randfs":
            return x[:, self.tensors["perm"][:m].to(x.device)].float()
        mean = self.tensors["mean"].to(x.device)
        comps = self.tensors["components"][:m].to(x.device)
        return (x.float() - mean) @ comps.t()

    def _budget(self, k: int | None) -> int | None:
        return None if self.method == "full" else super()._budget(k)

    def state_tensors(self) -> dict[str, Tensor]:
        return dict(self.tensors)


class FittedQuant(FittedMethod):
    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        if self.method == "int8":
            return quantize_int8(x.float(), self.tensors["scale"])
        return binarize(x.float(), self.tensors["threshold"])

    def __init__(self, method, k, d, params, tensors: dict[str, Tensor]):
        super().__init__(method, k, d, params)
        self.tensors = tensors

    def _budget(self, k: int | None) -> int | None:
        return None  # always the full embedding

    def state_tensors(self) -> dict[str, Tensor]:
        return dict(self.tensors)


# ---- fitting ------------------------------------------------------------------------


def resolve_params(
    method: str, params: dict[str, Any] | None, modality: str = "text"
) -> dict[str, Any]:
    """Defaults for (method, modality) overridden by `params`; unknown keys are an error."""
    params = dict(params or {})
    defaults = method_defaults(method, modality)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for method {method!r}; accepted: {sorted(defaults)}"
        )
    if method == "sae" and params.get("gamma", 0.0) != 0.0:
        raise ValueError("sae is CSR with gamma = 0; use method csr for gamma > 0")
    return {**defaults, **params}


def fit(
    method: str,
    k: int | None,
    train: SplitEmbeddings,
    params: dict[str, Any] | None = None,
    device: str | torch.device | None = "auto",
    seed: int = 0,
) -> FittedMethod:
    """Fit `method` for budget k on a training split (k may be None where one fit serves all)."""
    info = _info(method)
    if info.per_k and (k is None or k <= 0):
        raise ValueError(f"{method} is fitted per budget: give k > 0")
    dev = resolve_device(device)
    user = dict(params or {})
    names = choose_fields(train, user.get("fields"))
    modality = user.get("modality", "auto")
    if modality == "auto":
        modality = infer_modality(train, names)
    p = resolve_params(method, user, modality)
    p["modality"] = modality
    p["fields"] = names
    if info.family == "csr":
        fitted: FittedMethod = _fit_csr(method, int(k), train, p, dev, seed)  # type: ignore[arg-type]
    elif info.family == "mrl":
        fitted = _fit_mrl(method, k, train, p, dev, seed)
    else:
        fitted = _fit_baseline(method, k, train, p, seed)
    fitted.extra_config["seed"] = seed
    fitted.extra_config["train_provenance"] = train.provenance
    return fitted


def _train_config(p: dict[str, Any], seed: int, desc: str) -> TrainConfig:
    return TrainConfig(
        batch_size=int(p["batch_size"]),
        epochs=int(p["epochs"]),
        lr=float(p["lr"]),
        adam_eps=float(p["adam_eps"]),
        betas=(float(p["betas"][0]), float(p["betas"][1])),
        weight_decay=float(p["weight_decay"]),
        seed=seed,
        amp=p["amp"],
        progress=_flag(p["progress"], "progress"),
        max_steps=p["max_steps"],
        sync_every=int(p["sync_every"]),
        desc=desc,
        drop_last=_flag(p["drop_last"], "drop_last"),
    )


def _auto(value: Any, default: Any) -> Any:
    return default if value == "auto" else value


def _flag(value: Any, name: str) -> bool:
    """A boolean parameter given as a bool or as 'true'/'false' (configs, command lines)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
        return value.lower() in ("true", "yes", "on")
    raise ValueError(f"parameter {name} must be true or false, got {value!r}")


class CSRObjective:
    """Loss = L(k) + w*L(multi_k * k) + beta*L_aux + gamma*L_contrastive for one batch."""

    def __init__(self, model: CSR, data: TrainingData, p: dict[str, Any], method: str, k: int):
        self.model, self.data, self.p, self.k = model, data, p, k
        self.gamma = float(p["gamma"])
        self.beta = float(p["beta"])
        self.auxk_form = p["auxk_form"]
        if self.auxk_form not in ("residual", "paper"):
            raise ValueError(f"auxk_form must be residual|paper, got {self.auxk_form!r}")
        self.anneal = method == "csr-v2"
        self.k_init = max(int(p.get("k_init", k)), k)
        if self.anneal and self.k_init > model.h:
            raise ValueError(f"k_init={self.k_init} exceeds h={model.h}")
        supervised = method == "csr-v2"
        pos = p["positives"]
        if pos == "auto":
            if data.paired:
                pos = "pairs"
            elif supervised and data.labels is not None:
                pos = "labels"
            else:
                pos = "self"
        if pos == "pairs" and not data.paired:
            raise ValueError("positives=pairs needs a two-field split with relevance pairs")
        if pos == "labels" and data.labels is None:
            raise ValueError("positives=labels needs labels on the training field")
        if pos not in ("pairs", "labels", "self"):
            raise ValueError(f"positives must be auto|pairs|labels|self, got {pos!r}")
        self.positives = pos
        self.on = _auto(p["contrastive_on"], "recon" if data.modality == "multimodal" else "codes")
        if self.on not in ("codes", "recon"):
            raise ValueError(f"contrastive_on must be auto|codes|recon, got {self.on!r}")
        if self.on == "recon" and pos != "pairs":
            raise ValueError("contrastive_on=recon (CLIP form) needs pairs as positives")
        self.symmetric = _flag(_auto(p["symmetric"], data.modality == "multimodal"), "symmetric")
        scale = p["logit_scale"] if p["logit_scale"] is not None else data.logit_scale
        self.logit_scale = float(scale) if scale is not None else 100.0
        self.resolved = {
            "positives": pos,
            "contrastive_on": self.on,
            "symmetric": self.symmetric,
            "logit_scale": self.logit_scale,
        }

    def parameters(self):
        return self.model.parameters()

    def k_at(self, step: int, total: int) -> int:
        """csr-v2: linear from k_init to k over the first anneal_frac of the steps."""
        if not self.anneal:
            return self.k
        span = max(1.0, float(self.p["anneal_frac"]) * total)
        frac = min(1.0, step / span)
        return round(self.k_init + (self.k - self.k_init) * frac)

    def batch(self, ids: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        d = self.data
        if d.pairs is None:
            return d.x[0][ids].float(), None, None
        src, tgt = d.pairs[ids, 0], d.pairs[ids, 1]
        return torch.cat([d.x[0][src], d.x[1][tgt]]).float(), src, tgt

    def step(self, ids: Tensor, step: int, total: int) -> dict[str, Tensor | float]:
        model = self.model
        k = self.k_at(step, total)
        x, src, tgt = self.batch(ids)
        k_top = min(int(self.p["multi_k"]) * k, model.h)
        enc = model.encode_train(x, k_top=k_top, aux=self.beta > 0, update_stats_k=k)
        idx, vals = enc["idx"], enc["vals"]
        assert idx is not None and vals is not None
        n_aux = 0 if enc["idx_aux"] is None else enc["idx_aux"].shape[1]
        parts = model.decode_parts(
            enc["all_idx"],
            enc["all_vals"],
            [k, k_top - k, n_aux],  # type: ignore[arg-type]
        )
        x_hat = parts[0] + model.pre_bias
        loss_k = mse(x_hat, x)
        loss_multi = mse(x_hat + parts[1], x) if k_top > k else loss_k
        e_hat = parts[-1] if n_aux else None
        if self.auxk_form == "paper":
            loss_aux = auxk_loss_paper(e_hat, (x - x_hat).detach(), model.pre_bias)
        else:
            loss_aux = auxk_loss(e_hat, (x - x_hat).detach())
        loss_c = x.new_zeros(())
        if self.gamma > 0:
            loss_c = self.contrastive(idx[:, :k], vals[:, :k], x_hat, ids, src, tgt)
        loss = (
            loss_k
            + float(self.p["multi_k_weight"]) * loss_multi
            + self.beta * loss_aux
            + self.gamma * loss_c
        )
        return {
            "loss": loss,
            "loss_k": loss_k,
            "loss_multi_k": loss_multi,
            "loss_aux": loss_aux,
            "loss_contrastive": loss_c,
            "k": k,
        }

    def contrastive(self, idx, vals, x_hat, ids, src, tgt) -> Tensor:
        t = float(self.p["temperature"])
        h = self.model.h
        if self.positives == "pairs":
            b = len(ids)
            ignore = false_negative_mask(src, tgt)
            if self.on == "recon":
                logits = cosine_logits(x_hat[:b], x_hat[b:], self.logit_scale)
            else:
                vn = normalize_code_values(vals)
                logits = sparse_code_similarity(idx[:b], vn[:b], idx[b:], vn[b:], h) / t
            return info_nce_pairs(logits, self.symmetric, ignore)
        vn = normalize_code_values(vals)
        sim = sparse_code_similarity(idx, vn, idx, vn, h)
        labels = self.data.labels[ids] if self.positives == "labels" else None  # type: ignore[index]
        return info_nce_self(sim, t, labels)

    def after_step(self) -> dict[str, Tensor | float]:
        return {"dead_frac": self.model.dead_mask().float().mean()}


def _fit_csr(method: str, k: int, split: SplitEmbeddings, p: dict[str, Any], dev, seed: int):
    data = prepare_data(split, p["fields"], p["modality"], dev)
    d = data.d
    h = int(p["h"]) if p["h"] is not None else int(p["expansion"]) * d
    if k > h:
        raise ValueError(f"k={k} exceeds the number of latents h={h}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CSR(
            d,
            h,
            k,
            k_aux=int(p["k_aux"]),
            dead_threshold=int(p["dead_threshold"]),
            tied=_flag(p["tied"], "tied"),
            sparse_backward=p["sparse_backward"],
        )
    if p["init_pre_bias"] == "mean":
        with torch.no_grad():
            model.pre_bias.copy_(
                torch.cat([x.float().mean(0, keepdim=True) for x in data.x]).mean(0)
            )
    elif p["init_pre_bias"] != "zeros":
        raise ValueError(f"init_pre_bias must be zeros|mean, got {p['init_pre_bias']!r}")
    model.to(dev).train()
    obj = CSRObjective(model, data, p, method, k)
    result = train(obj, data.n_units, _train_config(p, seed, f"{method} k={k}"), dev)
    model.eval()
    p = {**p, **obj.resolved, "h": h}
    fitted = FittedCSR(method, k, d, p, model)
    fitted.device = dev
    fitted.summary = result.summary
    fitted.log = result.rows
    return fitted


class MRLObjective:
    """Matryoshka loss: sum over nested prefixes m of a per-prefix loss."""

    def __init__(
        self, head: MRLHead, clf: PrefixClassifiers | None, data: TrainingData, p, obj: str
    ):
        self.head, self.clf, self.data, self.p, self.objective = head, clf, data, p, obj
        self.nesting: list[int] = list(p["nesting"])
        self.symmetric = _flag(_auto(p["symmetric"], data.modality == "multimodal"), "symmetric")
        scale = p["logit_scale"] if p["logit_scale"] is not None else data.logit_scale
        if data.modality == "multimodal" and scale is not None:
            self.scale = float(scale)
        else:
            self.scale = 1.0 / float(p["temperature"])

    def parameters(self):
        yield from self.head.parameters()
        if self.clf is not None:
            yield from self.clf.parameters()

    def step(self, ids: Tensor, step: int, total: int) -> dict[str, Tensor | float]:
        d = self.data
        if self.objective == "pairs":
            assert d.pairs is not None
            src, tgt = d.pairs[ids, 0], d.pairs[ids, 1]
            za, zb = self.head(d.x[0][src].float()), self.head(d.x[1][tgt].float())
            ignore = false_negative_mask(src, tgt)

            def term(a: Tensor, b: Tensor, m: int) -> Tensor:
                return info_nce_pairs(cosine_logits(a, b, self.scale), self.symmetric, ignore)

            loss, _ = matryoshka_loss([za, zb], self.nesting, term)
        else:
            x = d.x[0][ids].float()
            z = self.head(x)
            if self.objective == "labels":
                assert d.labels is not None and self.clf is not None
                y = d.labels[ids]
                clf = self.clf
                loss, _ = matryoshka_loss(
                    z, self.nesting, lambda zm, m: F.cross_entropy(clf.logits(zm, m), y)
                )
            else:
                loss, _ = matryoshka_loss(
                    z, self.nesting, lambda zm, m: similarity_preservation(zm, x)
                )
        return {"loss": loss}

    def after_step(self) -> dict[str, Tensor | float]:
        return {}


def _fit_mrl(method: str, k: int | None, split: SplitEmbeddings, p: dict[str, Any], dev, seed: int):
    data = prepare_data(split, p["fields"], p["modality"], dev)
    d = data.d
    obj = p["objective"]
    if obj == "auto":
        obj = "pairs" if data.paired else "labels" if data.labels is not None else "similarity"
    if obj not in ("pairs", "labels", "similarity"):
        raise ValueError(f"objective must be auto|pairs|labels|similarity, got {obj!r}")
    if obj == "pairs" and not data.paired:
        raise ValueError("objective=pairs needs a two-field split with relevance pairs")
    if obj == "labels" and data.labels is None:
        raise ValueError("objective=labels needs labels on the training field")
    nesting = p["nesting"] or nesting_dims(d, int(p["smallest_m"]))
    nesting = sorted({int(m) for m in nesting if 0 < int(m) <= d})
    if k is not None and k <= d and k not in nesting:
        nesting = sorted({*nesting, int(k)})  # make sure the evaluated budget is trained
    p = {**p, "nesting": nesting, "objective": obj}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = MRLHead(d, p["head"], p["mlp_hidden"])
        clf = (
            PrefixClassifiers(nesting, data.n_classes, efficient=method == "mrl-e")
            if obj == "labels"
            else None
        )
    head.to(dev).train()
    if clf is not None:
        clf.to(dev).train()
    objective = MRLObjective(head, clf, data, p, obj)
    result = train(objective, data.n_units, _train_config(p, seed, f"{method}"), dev)
    head.eval()
    fitted = FittedMRL(method, k, d, p, head, clf)
    fitted.device = dev
    fitted.summary = result.summary
    fitted.log = result.rows
    fitted.extra_config["n_classes"] = data.n_classes
    return fitted


def _baseline_matrix(split: SplitEmbeddings, p: dict[str, Any]) -> np.ndarray:
    """The rows a baseline is fitted on: all rows of the training fields (stacked)."""
    mats = [split.field(f).x for f in p["fields"]]
    return mats[0] if len(mats) == 1 else np.concatenate([np.asarray(m) for m in mats])


def _fit_baseline(method: str, k: int | None, split: SplitEmbeddings, p: dict[str, Any], seed: int):
    x = _baseline_matrix(split, p)
    d = int(x.shape[1])
    tensors: dict[str, Tensor]
    if method in ("full", "trunc"):
        tensors = {}
    elif method == "randfs":
        tensors = {"perm": random_permutation(d, seed)}
    elif method == "pca":
        mean, comps, var = fit_pca(x, center=_flag(p["center"], "center"))
        tensors = {"mean": mean, "components": comps, "explained_variance": var}
    elif method == "int8":
        tensors = {"scale": fit_int8_scale(x, float(p["int8_quantile"]))}
    elif method == "binary":
        if _flag(p["binary_center"], "binary_center"):
            total = torch.zeros(d, dtype=torch.float64)
            for b in iter_blocks(x):
                total += b.double().sum(0)
            thr = (total / max(x.shape[0], 1)).float()
        else:
            thr = torch.zeros(d)
        tensors = {"threshold": thr}
    else:  # pragma: no cover - registry and dispatch agree
        raise AssertionError(method)
    cls = FittedQuant if method in ("int8", "binary") else FittedLinearBaseline
    fitted = cls(method, k, d, p, tensors)
    fitted.summary = {"n_fit_rows": int(x.shape[0])}
    return fitted


# ---- loading ------------------------------------------------------------------------


def load(directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> FittedMethod:
    """Rebuild a FittedMethod from `save`'s directory."""
    root = Path(directory)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{root} has no config.json: not a finished fitted method")
    cfg = json.loads(cfg_path.read_text())
    tensors = load_file(str(root / "model.safetensors"))
    method, k, d, p = cfg["method"], cfg["k"], int(cfg["d"]), cfg["params"]
    info = _info(method)
    dev = resolve_device(device)
    fitted: FittedMethod
    if info.family == "csr":
        model = CSR(
            d,
            int(cfg["h"]),
            int(k),
            k_aux=int(p["k_aux"]),
            dead_threshold=int(p["dead_threshold"]),
            tied=_flag(p["tied"], "tied"),
            sparse_backward=p["sparse_backward"],
        )
        model.load_state_dict(tensors)
        model.eval()
        fitted = FittedCSR(method, k, d, p, model)
    elif info.family == "mrl":
        head = MRLHead(d, p["head"], p["mlp_hidden"])
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        clf = None
        if p["objective"] == "labels":
            clf = PrefixClassifiers(list(p["nesting"]), int(cfg["n_classes"]), method == "mrl-e")
            clf.load_state_dict(
                {k[12:]: v for k, v in tensors.items() if k.startswith("classifiers.")}
            )
        head.eval()
        fitted = FittedMRL(method, k, d, p, head, clf)
    elif info.family == "quant":
        fitted = FittedQuant(method, k, d, p, tensors)
    else:
        fitted = FittedLinearBaseline(method, k, d, p, tensors)
    fitted.summary = cfg.get("summary", {})
    fitted.extra_config = {
        key: v for key, v in cfg.items() if key in ("seed", "train_provenance", "n_classes")
    }
    return fitted.to(dev)
