"""The closed-form baselines, one class each: full, trunc, pca, randfs, int8, binary.

Each is fitted from all rows of its training fields (stacked) in one pass or none, and
its state is a few tensors. full, trunc, randfs and pca encode y = ((x - mean) @ P^T)
[:, :m] with P a rotation or a row selection (trunc and randfs just index columns);
int8 and binary quantise the full embedding and ignore the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from csrbench.methods.base import FittedMethod
from csrbench.methods.params import BaselineParams, BinaryParams, Int8Params, PCAParams
from csrbench.methods.registry import MethodSpec
from csrbench.models.baselines import (
    binarize,
    fit_int8_scale,
    fit_pca,
    iter_blocks,
    quantize_int8,
    random_permutation,
)
from csrbench.store import SplitEmbeddings


class ClosedFormBaseline(FittedMethod):
    """A baseline whose state is a dict of tensors computed from the training rows."""

    def __init__(
        self,
        spec: MethodSpec,
        k: int | None,
        d: int,
        params: BaselineParams,
        tensors: dict[str, Tensor],
    ) -> None:
        super().__init__(spec, k, d, params)
        self.tensors = tensors

    @classmethod
    def fit_tensors(cls, x: np.ndarray, params: Any, seed: int) -> dict[str, Tensor]:
        """The state fitted from the training rows `x` (none by default)."""
        return {}

    @classmethod
    def fit(
        cls,
        spec: MethodSpec,
        k: int | None,
        split: SplitEmbeddings,
        params: BaselineParams,
        device: torch.device,
        seed: int,
    ) -> ClosedFormBaseline:
        assert params.fields is not None  # params_for_split resolves them
        mats = [split.field(f).x for f in params.fields]
        x = mats[0] if len(mats) == 1 else np.concatenate([np.asarray(m) for m in mats])
        fitted = cls(spec, k, int(x.shape[1]), params, cls.fit_tensors(x, params, seed))
        fitted.summary = {"n_fit_rows": int(x.shape[0])}
        return fitted

    @classmethod
    def from_saved(
        cls,
        spec: MethodSpec,
        config: dict[str, Any],
        params: BaselineParams,
        tensors: dict[str, Tensor],
    ) -> ClosedFormBaseline:
        return cls(spec, config["k"], int(config["d"]), params, tensors)

    def width(self, k: int | None) -> int:
        return self.d if k is None else min(k, self.d)

    def state_tensors(self) -> dict[str, Tensor]:
        return dict(self.tensors)


class Trunc(ClosedFormBaseline):
    """The first m dims."""

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        return x[:, : self.width(k)].float()


class Full(Trunc):
    """The embedding itself, whatever the budget."""

    def _budget(self, k: int | None) -> int | None:
        return None


class RandFS(ClosedFormBaseline):
    """m random dims: the first m of a permutation seeded by the fit's seed."""

    @classmethod
    def fit_tensors(cls, x: np.ndarray, params: Any, seed: int) -> dict[str, Tensor]:
        return {"perm": random_permutation(int(x.shape[1]), seed)}

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        return x[:, self.tensors["perm"][: self.width(k)].to(x.device)].float()


class PCA(ClosedFormBaseline):
    """The top m principal components of the training rows."""

    @classmethod
    def fit_tensors(cls, x: np.ndarray, params: PCAParams, seed: int) -> dict[str, Tensor]:
        mean, comps, var = fit_pca(x, center=params.center)
        return {"mean": mean, "components": comps, "explained_variance": var}

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        mean = self.tensors["mean"].to(x.device)
        comps = self.tensors["components"][: self.width(k)].to(x.device)
        return (x.float() - mean) @ comps.t()


class Int8(ClosedFormBaseline):
    """The full embedding as symmetric int8 with one scale (d bytes)."""

    @classmethod
    def fit_tensors(cls, x: np.ndarray, params: Int8Params, seed: int) -> dict[str, Tensor]:
        return {"scale": fit_int8_scale(x, params.int8_quantile)}

    def _budget(self, k: int | None) -> int | None:
        return None  # always the full embedding

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        return quantize_int8(x.float(), self.tensors["scale"])


class Binary(ClosedFormBaseline):
    """The full embedding as one bit per dim (+-1 codes; d/8 bytes packed)."""

    @classmethod
    def fit_tensors(cls, x: np.ndarray, params: BinaryParams, seed: int) -> dict[str, Tensor]:
        d = int(x.shape[1])
        if params.binary_center:
            total = torch.zeros(d, dtype=torch.float64)
            for b in iter_blocks(x):
                total += b.double().sum(0)
            return {"threshold": (total / max(x.shape[0], 1)).float()}
        return {"threshold": torch.zeros(d)}

    def _budget(self, k: int | None) -> int | None:
        return None  # always the full embedding

    @torch.no_grad()
    def _encode_batch(self, x: Tensor, k: int | None) -> Tensor:
        return binarize(x.float(), self.tensors["threshold"])
