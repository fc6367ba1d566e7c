"""csrbench: benchmark pipeline for adaptive embeddings (CSR vs MRL).

`csrbench.fit(X, k=32, ...)` fits a method on plain arrays (see `csrbench.api`). It is
imported on first use: `import csrbench` must not import torch, because the workflow
imports `csrbench.config` while Snakemake parses the Snakefile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csrbench.api import fit as fit

__all__ = ["fit"]


def __getattr__(name: str) -> Any:
    if name == "fit":
        from csrbench.api import fit

        return fit
    raise AttributeError(f"module 'csrbench' has no attribute {name!r}")
