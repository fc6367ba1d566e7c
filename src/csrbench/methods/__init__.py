"""Every method behind one interface: `fit` -> `FittedMethod` -> `encode` / `save` / `load`.

    fitted = fit("csr", k=32, train=load_split(dir), params={...}, device="auto", seed=0)
    codes = fitted.encode(x)            # SparseCodes for sparse methods, np.ndarray otherwise
    fitted.save(out_dir)                # model.safetensors + config.json (atomic)
    write_log(fitted.log, "train.tsv")  # per-step training log (trained methods)
    fitted = load(out_dir)

Methods (`REGISTRY` holds their specs; docs/method-parameters.md their parameters):

    csr      CSR: TopK SAE + multi-k + AuxK + contrastive (the paper); one fit per k
    sae      CSR without the contrastive term (gamma = 0); one fit per k
    csr-v2   CSR with k annealed from k_init to k and label/pair-supervised contrastive
    mrl      Matryoshka head on the frozen embedding; one fit serves every m (= k)
    mrl-e    MRL with one weight-shared classifier (MRL-E)
    full     the embedding itself (d dims)
    trunc    first m dims;  pca: top m principal components;  randfs: m random dims
    int8     the full embedding, symmetric int8 (d bytes)
    binary   the full embedding, one bit per dim (+-1 codes, d/8 bytes packed)

Modules: `registry` (what each method is), `budget` (k32 / all / full), `params` (typed
parameters) and `paramdocs` (their reference page) are torch-free, for the workflow's
parse time; `data`, `base`, `csr`, `mrl` and `baselines` hold the implementations. The
torch-side names below are imported on first use, so `import csrbench.methods.registry`
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from csrbench.methods.budget import Budget
from csrbench.methods.params import (
    MODALITIES,
    MethodParams,
    ParamError,
    build_params,
)
from csrbench.methods.registry import REGISTRY, MethodSpec, method_spec

if TYPE_CHECKING:
    from csrbench.methods.base import (
        FittedMethod,
        bytes_per_doc,
        fit,
        load,
        params_for_split,
    )
    from csrbench.methods.csr import CSRObjective, FittedCSR
    from csrbench.methods.data import TrainingData, prepare_data
    from csrbench.methods.mrl import FittedMRL, MRLObjective

_LAZY = {
    "FittedMethod": "base",
    "bytes_per_doc": "base",
    "fit": "base",
    "load": "base",
    "params_for_split": "base",
    "CSRObjective": "csr",
    "FittedCSR": "csr",
    "FittedMRL": "mrl",
    "MRLObjective": "mrl",
    "TrainingData": "data",
    "prepare_data": "data",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"csrbench.methods.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'csrbench.methods' has no attribute {name!r}")


def method_defaults(method: str, modality: str = "text") -> dict[str, Any]:
    """Every parameter `method` accepts, with its default for `modality`."""
    return build_params(method, modality).to_dict()


__all__ = [
    "MODALITIES",
    "REGISTRY",
    "Budget",
    "CSRObjective",
    "FittedCSR",
    "FittedMRL",
    "FittedMethod",
    "MRLObjective",
    "MethodParams",
    "MethodSpec",
    "ParamError",
    "TrainingData",
    "build_params",
    "bytes_per_doc",
    "fit",
    "load",
    "method_defaults",
    "method_spec",
    "params_for_split",
    "prepare_data",
]
