"""Budgets as the results tree spells them: `k32`, `all` and `full`.

A fitted model lives under `results/models/{experiment}/{method}/{budget}` where the
budget is `k32` for a method fitted per k (the CSR family) and `all` for one fit that
serves every k; codes and metrics live under `.../{method}/{budget}` where the budget is
`k32` for a method encoded at a budget and `full` for one that is always the full width
(the full embedding and its quantisations). `Budget` parses and prints those names and
holds the two rules, so the workflow, the jobs and the report agree on them.

Torch-free: the workflow imports this at parse time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from csrbench.methods.registry import method_spec

# Snakemake wildcard constraints for a model's and for a code's budget directory.
MODEL_BUDGET_PATTERN = r"k[0-9]+|all"
CODES_BUDGET_PATTERN = r"k[0-9]+|full"
_K = re.compile(r"k([0-9]+)")


@dataclass(frozen=True)
class Budget:
    """`k` for a budget of k (`k32`), else None with kind `all` or `full`."""

    kind: Literal["k", "all", "full"]
    k: int | None = None

    def __post_init__(self) -> None:
        if (self.kind == "k") != (self.k is not None):
            raise ValueError(f"a budget of kind {self.kind!r} cannot have k={self.k!r}")
        if self.k is not None and self.k < 1:
            raise ValueError(f"a budget k must be at least 1, got {self.k}")

    @classmethod
    def of(cls, k: int) -> Budget:
        return cls("k", int(k))

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`k32` -> Budget(k=32); `all`, `full` -> their kind; anything else is an error."""
        if text in ("all", "full"):
            return cls(text)  # type: ignore[arg-type]
        match = _K.fullmatch(text)
        if match is None:
            raise ValueError(f"budget {text!r} is not k<number>, 'all' or 'full'")
        return cls.of(int(match.group(1)))

    def __str__(self) -> str:
        return f"k{self.k}" if self.kind == "k" else self.kind

    @classmethod
    def for_model(cls, method: str, k: int | None) -> Budget:
        """The model directory serving (method, k): its own `k32` for a method fitted per
        k, else the one fit `all`."""
        if not method_spec(method).per_k:
            return cls("all")
        if k is None:
            raise ValueError(f"{method} is fitted per budget: its model needs a k")
        return cls.of(k)

    @classmethod
    def for_codes(cls, method: str, k: int | None) -> Budget:
        """The codes directory of (method, k): `k32`, or `full` for a method that is always
        encoded at the full width."""
        if not method_spec(method).budgeted:
            return cls("full")
        if k is None:
            raise ValueError(f"{method} is encoded at a budget: its codes need a k")
        return cls.of(k)
