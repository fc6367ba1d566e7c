"""Typed parameters of every method, checked once, where they are built.

A method's parameters are a frozen dataclass (`CSRParams`, `MRLParams`, one per
baseline); every field carries its help text, its accepted values and, where the paper's
recipe differs per modality, one default per modality. `build_params(method, modality,
overrides)` is the one builder: the workflow calls it at parse time to reject a bad
config before any job runs, and `fit` calls it again to get the object it trains with,
so a typo, a value outside the choices or a negative learning rate fails with a
`ParamError` naming the key, the value and what is accepted instead of somewhere deep
in a training step. Strings a config or a command line gives for booleans ("true")
become booleans here; "auto" values that depend on the training data (which positives,
symmetric loss, number of latents) stay "auto" until the family's `fit` resolves them
once against the data.

How a field accepts a value (types, ranges, the error) is `coerce.py`. Torch-free: the
workflow imports this at parse time. docs/method-parameters.md is
generated from these classes by `python -m csrbench.methods.paramdocs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from csrbench.methods.coerce import ParamError, coerce, doc, unknown_key_hint

MODALITIES = ("image", "text", "multimodal")
# An experiment's `modality` in the config -> the modality whose paper defaults apply.
EXPERIMENT_MODALITY = {"image": "image", "text": "text", "image-text": "multimodal"}


# ---- the parameter classes ----------------------------------------------------------

# The paper's settings per modality (its code's defaults where the paper is silent).
# Multimodal: the paper's CLIP code uses batch 64, 3 epochs and a cosine schedule with
# warm-up; we keep one constant-lr recipe for all modalities and say so in the report.
PAPER_BATCH = {"image": 4096, "text": 128, "multimodal": 128}
PAPER_GAMMA = {"image": 0.1, "text": 1.0, "multimodal": 1.0}


@dataclass(frozen=True, kw_only=True)
class MethodParams:
    """What every method takes: where its training data comes from and how it encodes."""

    modality: Literal["auto", "image", "text", "multimodal"] = field(
        default="auto",
        metadata=doc("picks the paper defaults (auto: from the provenance, else the fields)"),
    )
    fields: list[str] | None = field(
        default=None,
        metadata=doc(
            "fields to train on (default: the relevance pair, else the only/'image' field)"
        ),
    )
    value_dtype: Literal["float16", "float32"] = field(
        default="float16", metadata=doc("dtype of encoded values (and of the bytes axis)")
    )
    encode_batch_size: int = field(default=8192, metadata=doc("rows per encode batch", ge=1))

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value, the form config.json stores (and `load` rebuilds from)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class TrainParams(MethodParams):
    """The optimiser and loop settings every trained method shares."""

    lr: float = field(default=4e-4, metadata=doc("Adam learning rate (constant)", gt=0))
    batch_size: int = field(
        metadata=doc(
            "training units per step: rows, or relevance pairs for two-field splits",
            ge=1,
            by_modality=PAPER_BATCH,
        )
    )
    epochs: int = field(default=10, metadata=doc("passes over the training units", ge=1))
    adam_eps: float = field(
        default=6.25e-10, metadata=doc("Adam epsilon (the CSR paper: 6.25e-10)", gt=0)
    )
    betas: tuple[float, float] = field(
        default=(0.9, 0.999), metadata=doc("Adam betas, each in [0, 1)")
    )
    weight_decay: float = field(default=0.0, metadata=doc("Adam weight decay", ge=0))
    amp: bool | Literal["auto"] = field(
        default="auto", metadata=doc("bf16 autocast on CUDA (auto: on; ignored on CPU)")
    )
    max_steps: int | None = field(
        default=None,
        metadata=doc(
            "stop after this many steps (tests, smoke runs; 0: the initial model); null = all", ge=0
        ),
    )
    progress: bool = field(default=True, metadata=doc("show a tqdm progress bar"))
    sync_every: int = field(
        default=50,
        metadata=doc("copy log values to the host every N steps (GPU runs sync only then)", ge=1),
    )
    drop_last: bool = field(default=True, metadata=doc("drop the last partial batch of an epoch"))

    def __post_init__(self) -> None:
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ParamError("betas", list(self.betas), "two numbers, each in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class CSRParams(TrainParams):
    """CSR family (csr, sae, csr-v2): TopK SAE + multi-k + AuxK + contrastive."""

    h: int | None = field(
        default=None, metadata=doc("number of latents (null: expansion * d)", ge=1)
    )
    expansion: int = field(
        default=4, metadata=doc("h = expansion * d when h is null (the paper: 4)", ge=1)
    )
    tied: bool = field(
        default=True, metadata=doc("decoder = encoder transpose (one parameter), as the paper")
    )
    k_aux: int = field(
        default=512,
        metadata=doc("AuxK: how many dead latents reconstruct the residual (the paper: 512)", ge=0),
    )
    dead_threshold: int = field(
        default=10,
        metadata=doc("a latent is dead after this many optimiser steps without firing", ge=0),
    )
    beta: float = field(default=1 / 32, metadata=doc("weight of the AuxK loss (1/32)", ge=0))
    auxk_form: Literal["residual", "paper"] = field(
        default="residual",
        metadata=doc(
            "AuxK loss: residual (zero when nothing is dead), or the paper code's form "
            "(per-field on pairs); docs/deviations.md"
        ),
    )
    multi_k: int = field(
        default=4, metadata=doc("multi-k loss uses the top multi_k * k latents (4)", ge=1)
    )
    multi_k_weight: float = field(
        default=1 / 8, metadata=doc("weight of the multi-k reconstruction loss (1/8)", ge=0)
    )
    gamma: float = field(
        metadata=doc(
            "weight of the contrastive loss (0.1 image, 1.0 text/multimodal; sae: 0)",
            ge=0,
            by_modality=PAPER_GAMMA,
        )
    )
    temperature: float = field(
        default=0.2, metadata=doc("InfoNCE temperature on L2-normalised codes (0.2)", gt=0)
    )
    positives: Literal["auto", "pairs", "labels", "self"] = field(
        default="auto",
        metadata=doc(
            "what counts as a contrastive positive (auto: pairs, else self; csr-v2: labels first)"
        ),
    )
    contrastive_on: Literal["auto", "codes", "recon"] = field(
        default="auto",
        metadata=doc(
            "contrast sparse codes, or (CLIP form) reconstructions (auto: recon for multimodal)"
        ),
    )
    symmetric: bool | Literal["auto"] = field(
        default="auto",
        metadata=doc("contrastive loss in both retrieval directions (auto: multimodal only)"),
    )
    logit_scale: float | None = field(
        default=None,
        metadata=doc(
            "scale of the 'recon' form (null: the embeddings' provenance, else 100)", gt=0
        ),
    )
    init_pre_bias: Literal["zeros", "mean"] = field(
        default="zeros",
        metadata=doc("initial pre-bias: zeros (the paper) or the mean of the training rows"),
    )
    sparse_backward: bool | Literal["auto"] = field(
        default="auto",
        metadata=doc("encoder gradient by sparse matmul (auto: when K is small next to h)"),
    )


@dataclass(frozen=True, kw_only=True)
class CSRv2Params(CSRParams):
    """csr-v2: CSR with k annealed from k_init down to k and supervised positives."""

    k_init: int = field(
        default=64, metadata=doc("k at the first step, annealed linearly to k (at least k)", ge=1)
    )
    anneal_frac: float = field(
        default=0.7,
        metadata=doc("fraction of the steps over which k is annealed, in (0, 1]", gt=0, le=1),
    )


@dataclass(frozen=True, kw_only=True)
class ImportedCSRParams(CSRParams):
    """csr-st: a released CSR (a sentence-transformers SparseEncoder folder) read as is.
    Its inference settings (h, k_aux, dead_threshold) come from the checkpoint; the
    training keys it inherits from CSR are not used."""

    folder: str = field(
        default="",
        metadata=doc(
            "the SparseEncoder folder of the checkpoint at each budget; {k} is replaced by "
            "k, e.g. /models/csr-nv-embed-v2-k{k} (required)"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class MRLParams(TrainParams):
    """MRL family (mrl, mrl-e): a Matryoshka head on the frozen embedding."""

    lr: float = field(default=1e-3, metadata=doc("Adam learning rate (constant)", gt=0))
    adam_eps: float = field(default=1e-8, metadata=doc("Adam epsilon", gt=0))
    head: Literal["linear", "mlp"] = field(
        default="linear", metadata=doc("linear or residual MLP head; both start at the identity")
    )
    mlp_hidden: int | None = field(
        default=None, metadata=doc("hidden width of the mlp head (null: d)", ge=1)
    )
    nesting: list[int] | None = field(
        default=None,
        metadata=doc("prefix sizes m (null: 8, 16, 32, ... up to d, plus the fitted k)"),
    )
    smallest_m: int = field(default=8, metadata=doc("smallest prefix of the default nesting", ge=1))
    objective: Literal["auto", "labels", "pairs", "similarity"] = field(
        default="auto",
        metadata=doc("training loss (auto: pairs, else labels, else similarity preservation)"),
    )
    temperature: float = field(
        default=0.2, metadata=doc("InfoNCE temperature of the pairs objective (0.2)", gt=0)
    )
    symmetric: bool | Literal["auto"] = field(
        default="auto",
        metadata=doc("contrastive loss in both retrieval directions (auto: multimodal only)"),
    )
    logit_scale: float | None = field(
        default=None,
        metadata=doc(
            "multimodal pairs: logit scale (null: the embeddings' provenance, else 1/T)", gt=0
        ),
    )


@dataclass(frozen=True, kw_only=True)
class BaselineParams(MethodParams):
    """Closed-form baselines: nothing to train; fitted from all rows of the training fields."""

    encode_batch_size: int = field(default=65536, metadata=doc("rows per encode batch", ge=1))


@dataclass(frozen=True, kw_only=True)
class PCAParams(BaselineParams):
    """pca: the top m principal components of the training rows."""

    center: bool = field(default=True, metadata=doc("subtract the training mean"))


@dataclass(frozen=True, kw_only=True)
class Int8Params(BaselineParams):
    """int8: the full embedding, symmetric int8 with one scale (d bytes)."""

    int8_quantile: float = field(
        default=1.0,
        metadata=doc("quantile of |x| mapped to 127, in (0, 1] (1.0 = the max)", gt=0, le=1),
    )


@dataclass(frozen=True, kw_only=True)
class BinaryParams(BaselineParams):
    """binary: the full embedding, one bit per dim (d/8 bytes)."""

    binary_center: bool = field(
        default=True, metadata=doc("threshold each dim at its training mean (else at 0)")
    )


# ---- building -----------------------------------------------------------------------


def build_params(
    method: str, modality: str = "auto", overrides: Mapping[str, Any] | Any = None
) -> MethodParams:
    """The typed parameters of `method`: defaults for the modality, then `overrides`.

    `modality` picks the per-modality defaults; an explicit `modality` among the
    overrides wins, and "auto" there means the argument. Raises ParamError for an
    unknown key (suggesting the closest one), a wrong type, a value outside the
    choices or the range, or a change of a value the method fixes (sae's gamma).
    """
    from csrbench.methods.registry import REGISTRY, method_spec

    spec = method_spec(method)
    cls = spec.params
    given = dict(overrides or {})
    known = {f.name: f for f in fields(cls)}
    for key in given:
        if key not in known:
            raise ParamError(key, given[key], unknown_key_hint(method, key, sorted(known)))
    values = {key: coerce(cls, key, value) for key, value in given.items()}
    mod = values.get("modality", "auto")
    if mod == "auto":
        mod = coerce(cls, "modality", modality)
    if mod == "auto":
        raise ParamError(
            "modality",
            "auto",
            f"a concrete modality ({'|'.join(MODALITIES)}) picks the "
            "defaults; fit infers it from the training data when given a dict",
        )
    values["modality"] = mod
    for f in fields(cls):
        table = f.metadata.get("by_modality")
        if table is not None and f.name not in values:
            values[f.name] = table[mod]
    for key, fixed in spec.fixed_params:
        if key in given and values[key] != fixed:
            others = [m.name for m in REGISTRY.values() if m.family == spec.family and m != spec]
            raise ParamError(
                key,
                given[key],
                f"{method} fixes {key} = {fixed!r}; for another value use {' or '.join(others)}",
            )
        values[key] = fixed
    return cls(**values)


__all__ = [
    "EXPERIMENT_MODALITY",
    "MODALITIES",
    "BaselineParams",
    "BinaryParams",
    "CSRParams",
    "CSRv2Params",
    "ImportedCSRParams",
    "Int8Params",
    "MRLParams",
    "MethodParams",
    "PCAParams",
    "ParamError",
    "TrainParams",
    "build_params",
    "coerce",
]
