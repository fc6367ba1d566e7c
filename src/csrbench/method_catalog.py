"""What each method is, without importing torch: the workflow plans jobs from this.

`per_k`: one fit per budget k (the CSR family; the paper trains one model per k).
`budgeted`: encodes at a budget m = k (MRL prefixes, PCA, truncation); methods that
are not budgeted (the full embedding and its quantisations) are evaluated once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodInfo:
    name: str
    family: str  # "csr" | "mrl" | "baseline" | "quant"
    sparse: bool  # encode() returns SparseCodes
    per_k: bool  # one fit per k (False: one fit serves every k)
    trainable: bool  # has a training loop (and a per-step log)
    budgeted: bool  # encoded at a budget k (False: always the full width)
    description: str


METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in [
        MethodInfo("csr", "csr", True, True, True, True, "Contrastive Sparse Representation"),
        MethodInfo("sae", "csr", True, True, True, True, "TopK SAE (CSR without contrastive)"),
        MethodInfo("csr-v2", "csr", True, True, True, True, "CSR + k annealing + supervised CL"),
        MethodInfo("mrl", "mrl", False, False, True, True, "Matryoshka head on frozen embeddings"),
        MethodInfo("mrl-e", "mrl", False, False, True, True, "Matryoshka head, shared classifier"),
        MethodInfo("full", "baseline", False, False, False, False, "the full embedding"),
        MethodInfo("trunc", "baseline", False, False, False, True, "first m dims"),
        MethodInfo("pca", "baseline", False, False, False, True, "top m principal components"),
        MethodInfo("randfs", "baseline", False, False, False, True, "m random dims (seeded)"),
        MethodInfo("int8", "quant", False, False, False, False, "int8 full embedding"),
        MethodInfo("binary", "quant", False, False, False, False, "1-bit full embedding"),
    ]
}


def method_info(method: str) -> MethodInfo:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method]


def model_budget(method: str, k: int | None) -> str:
    """Directory name of the fitted model serving (method, k): `k32` or `all`."""
    return f"k{k}" if method_info(method).per_k else "all"


def code_budget(method: str, k: int | None) -> str:
    """Directory name of the codes of (method, k): `k32`, or `full` for unbudgeted methods."""
    return f"k{k}" if method_info(method).budgeted else "full"
