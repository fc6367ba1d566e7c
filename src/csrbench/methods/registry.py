"""Every method, registered once: what it is, what it takes, how it behaves, where it lives.

A `MethodSpec` holds everything the rest of the code would otherwise decide by comparing
method names: its family, whether it is sparse, fitted per budget k, trained, encoded
at a budget; its parameter class and any parameter it fixes (sae: gamma = 0); the
behaviour flags that set it apart within its family (csr-v2's k annealing and
supervised positives, mrl-e's weight-shared classifier); how its bytes per document are
counted; and its implementation as a "module:Class" path imported on first use.

Torch-free: the workflow plans jobs from this at parse time. Registering a method is one
line in `REGISTRY` (plus its implementation class).

    per_k     one fit per budget k (the CSR family; the paper trains one model per k)
    budgeted  encoded at a budget m = k (MRL prefixes, PCA, truncation); the full
              embedding and its quantisations are not, and are evaluated once
    finetuned reads the embeddings of the experiment's backbone after a Matryoshka
              fine-tune (rule `finetune`, or a published MRL backbone), not the
              backbone's own: mrl-ft is truncation of those, one fine-tune per seed
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from csrbench.methods.params import (
    BaselineParams,
    BinaryParams,
    CSRParams,
    CSRv2Params,
    ImportedCSRParams,
    Int8Params,
    MethodParams,
    MRLParams,
    PCAParams,
)

Family = Literal["csr", "mrl", "baseline", "quant"]
# sparse: k * (index + value bytes); prefix: min(k, d) values; dense: d values;
# byte_per_dim: d bytes; bit_per_dim: d bits
BytesRule = Literal["sparse", "prefix", "dense", "byte_per_dim", "bit_per_dim"]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    family: Family
    sparse: bool  # encode() returns SparseCodes
    per_k: bool  # one fit per k (False: one fit serves every k)
    trainable: bool  # has a training loop (and a per-step log)
    budgeted: bool  # encoded at a budget k (False: always the full width)
    description: str
    params: type[MethodParams]
    implementation: str  # "module:Class" of its FittedMethod subclass
    bytes_rule: BytesRule
    fixed_params: tuple[tuple[str, Any], ...] = ()  # values the method pins
    anneal_k: bool = False  # k from k_init down to k over the first steps
    supervised_positives: bool = False  # positives "auto" prefers labels to self
    shared_classifier: bool = False  # MRL-E: one classifier sliced per prefix
    seeded: bool = False  # a closed-form fit that still draws from the seed (randfs)
    finetuned: bool = False  # reads a Matryoshka fine-tuned backbone's embeddings (mrl-ft)
    imported: bool = False  # its weights come from a released checkpoint, not a fit (csr-st)

    @property
    def varies_with_seed(self) -> bool:
        """Whether another seed gives another fit: such methods run over several seeds,
        deterministic ones once (their interval over seeds would be zero by construction)."""
        return self.trainable or self.seeded or self.finetuned

    def implementation_class(self) -> type:
        """The FittedMethod subclass (imports torch)."""
        module, cls = self.implementation.split(":")
        return getattr(importlib.import_module(module), cls)


_CSR = "csrbench.methods.csr:FittedCSR"
_MRL = "csrbench.methods.mrl:FittedMRL"
_B = "csrbench.methods.baselines:"

REGISTRY: dict[str, MethodSpec] = {
    m.name: m
    for m in [
        MethodSpec("csr", "csr", True, True, True, True, "Contrastive Sparse Representation",
                   CSRParams, _CSR, "sparse"),
        MethodSpec("sae", "csr", True, True, True, True, "TopK SAE (CSR without contrastive)",
                   CSRParams, _CSR, "sparse", fixed_params=(("gamma", 0.0),)),
        MethodSpec("csr-v2", "csr", True, True, True, True, "CSR + k annealing + supervised CL",
                   CSRv2Params, _CSR, "sparse", anneal_k=True, supervised_positives=True),
        MethodSpec("csr-st", "csr", True, True, False, True,
                   "a released CSR checkpoint (SparseEncoder folder), read as is",
                   ImportedCSRParams, "csrbench.methods.imported:ImportedCSR", "sparse",
                   imported=True),
        MethodSpec("mrl", "mrl", False, False, True, True, "Matryoshka head on frozen embeddings",
                   MRLParams, _MRL, "prefix"),
        MethodSpec("mrl-e", "mrl", False, False, True, True, "Matryoshka head, shared classifier",
                   MRLParams, _MRL, "prefix", shared_classifier=True),
        MethodSpec("mrl-ft", "mrl", False, False, False, True,
                   "first m dims of a Matryoshka fine-tuned backbone (the paper's MRL)",
                   BaselineParams, _B + "Trunc", "prefix", finetuned=True),
        MethodSpec("full", "baseline", False, False, False, False, "the full embedding",
                   BaselineParams, _B + "Full", "dense"),
        MethodSpec("trunc", "baseline", False, False, False, True, "first m dims",
                   BaselineParams, _B + "Trunc", "prefix"),
        MethodSpec("pca", "baseline", False, False, False, True, "top m principal components",
                   PCAParams, _B + "PCA", "prefix"),
        MethodSpec("randfs", "baseline", False, False, False, True, "m random dims (seeded)",
                   BaselineParams, _B + "RandFS", "prefix", seeded=True),
        MethodSpec("int8", "quant", False, False, False, False, "int8 full embedding",
                   Int8Params, _B + "Int8", "byte_per_dim"),
        MethodSpec("binary", "quant", False, False, False, False, "1-bit full embedding",
                   BinaryParams, _B + "Binary", "bit_per_dim"),
    ]
}  # fmt: skip


def method_spec(method: str) -> MethodSpec:
    """The registered spec of `method`; an unknown name lists the registered ones."""
    if method not in REGISTRY:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[method]
