"""The fine-tune recipe of an experiment (`experiments.<name>.finetune`), typed once.

Torch-free: the workflow builds it at parse time, so a bad value fails at dry run with
the key's name, and the job gets the same object back from its plain-dict form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class FinetuneError(ValueError):
    """A fine-tune setting or input that cannot work; the message names the fix."""


@dataclass(frozen=True)
class FinetuneParams:
    """How the backbone is fine-tuned (the schema documents each key and its default).

    `backbone` names a config backbone already trained with a Matryoshka objective (a
    published checkpoint): then nothing is fine-tuned and mrl-ft reads its prefixes.
    """

    backbone: str | None = None
    steps: int = 24
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    temperature: float = 0.05
    max_seq_length: int | None = 64
    checkpoints: tuple[float, ...] = (0.25, 0.5, 1.0)
    nesting: tuple[int, ...] | None = None
    val_batches: int = 4

    def __post_init__(self) -> None:
        where = "finetune"
        if self.steps < 1 or self.batch_size < 2 or self.val_batches < 1:
            raise FinetuneError(
                f"{where}: steps and val_batches must be >= 1 and batch_size >= 2 "
                f"(in-batch negatives need two pairs), got steps={self.steps}, "
                f"batch_size={self.batch_size}, val_batches={self.val_batches}"
            )
        if not (self.lr > 0 and self.temperature > 0 and self.weight_decay >= 0):
            raise FinetuneError(
                f"{where}: lr and temperature must be > 0 and weight_decay >= 0, got "
                f"lr={self.lr}, temperature={self.temperature}, weight_decay={self.weight_decay}"
            )
        fr = self.checkpoints
        if not fr or any(not 0 < f <= 1 for f in fr) or list(fr) != sorted(set(fr)) or fr[-1] != 1:
            raise FinetuneError(
                f"{where}.checkpoints = {list(fr)}: give increasing fractions of the steps "
                "in (0, 1] ending at 1, e.g. [0.25, 0.5, 1.0]"
            )
        steps = self.checkpoint_steps
        if len(set(steps)) != len(steps):
            raise FinetuneError(
                f"{where}.checkpoints = {list(fr)} at steps={self.steps} fall on the same "
                f"steps {steps}: use fewer checkpoints or more steps"
            )
        if self.nesting is not None and (not self.nesting or any(m < 1 for m in self.nesting)):
            raise FinetuneError(f"{where}.nesting = {self.nesting}: give positive widths")

    @property
    def checkpoint_steps(self) -> list[int]:
        """The optimiser steps after which a checkpoint is saved (at least step 1)."""
        return [max(1, round(f * self.steps)) for f in self.checkpoints]

    @classmethod
    def from_config(cls, block: dict[str, Any]) -> FinetuneParams:
        """From the schema-validated config block (lists become tuples)."""
        values = dict(block)
        for key in ("checkpoints", "nesting"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as err:
            raise FinetuneError(f"finetune: {err}") from None

    def as_dict(self) -> dict[str, Any]:
        """Plain form for params, provenance and JSON (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def nesting_for(self, d: int, ks: list[int]) -> list[int]:
        """The nested widths the loss sums over: the configured ones, else 8, 16, 32, ...
        below d; always with d and every evaluated budget k <= d (each is trained)."""
        if self.nesting is not None:
            widths = {int(m) for m in self.nesting}
        else:
            widths = {8 * 2**i for i in range(32) if 8 * 2**i < d}
        return sorted({m for m in widths | set(ks) if m <= d} | {d})
