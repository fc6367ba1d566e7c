"""Matryoshka heads trained on frozen embeddings: the cheap MRL baseline.

The MRL paper trains the whole backbone with the Matryoshka loss; on a frozen embedding
the same objective trains a d -> d head (linear, or a residual MLP) so that every prefix
of its output is a good m-dim embedding. One trained head serves every m.

Both heads start at the identity (linear: identity weight; MLP: zero-initialised output
layer), so an untrained head equals `trunc` and training can only move away from it
where the loss asks to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MRLHead(nn.Module):
    """d -> d map whose nested prefixes are the Matryoshka embeddings."""

    def __init__(self, d: int, kind: str = "linear", hidden: int | None = None) -> None:
        super().__init__()
        if kind not in ("linear", "mlp"):
            raise ValueError(f"MRL head must be 'linear' or 'mlp', got {kind!r}")
        self.d, self.kind = d, kind
        if kind == "linear":
            self.linear = nn.Linear(d, d)
            with torch.no_grad():
                self.linear.weight.copy_(torch.eye(d))
                self.linear.bias.zero_()
        else:
            hidden = hidden or d
            self.fc1 = nn.Linear(d, hidden)
            self.fc2 = nn.Linear(hidden, d)
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "linear":
            return self.linear(x)
        return x + self.fc2(F.gelu(self.fc1(x)))


class PrefixClassifiers(nn.Module):
    """Linear classifiers on each prefix m: independent (MRL) or weight-shared (MRL-E).

    MRL-E ("efficient") keeps one [C, d] weight and classifies prefix m with its first m
    columns, so the classifier costs as much as a single one (MRL paper, section 3).
    """

    def __init__(self, nesting: list[int], n_classes: int, efficient: bool) -> None:
        super().__init__()
        self.nesting = list(nesting)
        self.efficient = efficient
        if efficient:
            self.shared = nn.Linear(max(nesting), n_classes)
        else:
            self.heads = nn.ModuleList(nn.Linear(m, n_classes) for m in nesting)

    def logits(self, z_prefix: Tensor, m: int) -> Tensor:
        if self.efficient:
            return F.linear(z_prefix, self.shared.weight[:, :m], self.shared.bias)
        return self.heads[self.nesting.index(m)](z_prefix)
