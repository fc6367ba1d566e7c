"""The MRL family (mrl, mrl-e): a Matryoshka head trained on the frozen embedding.

One fit serves every budget m = k: the head's output prefixes are the m-dim embeddings.
The objective is chosen from the data when "auto" (pairs where the split has relevance
pairs, else labels, else similarity preservation); mrl-e shares one classifier across
the prefixes (the registry's `shared_classifier`). The resolved objective and nesting
are what config.json records.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from csrbench.losses import (
    cosine_logits,
    false_negative_mask,
    info_nce_pairs,
    matryoshka_loss,
    nesting_dims,
    similarity_preservation,
)
from csrbench.methods.base import FittedMethod
from csrbench.methods.data import TrainingData
from csrbench.methods.params import MRLParams
from csrbench.methods.registry import MethodSpec
from csrbench.models.mrl import MRLHead, PrefixClassifiers
from csrbench.store import SplitEmbeddings
from csrbench.train import TrainConfig, train


def build_mrl(
    spec: MethodSpec, d: int, p: MRLParams, n_classes: int
) -> tuple[MRLHead, PrefixClassifiers | None]:
    """The head and, for the labels objective, the per-prefix classifiers (fit and load)."""
    head = MRLHead(d, p.head, p.mlp_hidden)
    clf = None
    if p.objective == "labels":
        assert p.nesting is not None
        clf = PrefixClassifiers(list(p.nesting), n_classes, spec.shared_classifier)
    return head, clf


def resolve_mrl_params(
    p: MRLParams, data: TrainingData, k: int | None, spec: MethodSpec | None = None
) -> MRLParams:
    """`p` with the objective and the nesting decided for this data and budget.

    A method whose only difference from MRL is its shared classifier (MRL-E) is refused
    for an objective without classifiers: it would train the very weights MRL trains, and
    its rows would duplicate MRL's in every table.
    """
    obj = p.objective
    if obj == "auto":
        obj = "pairs" if data.paired else "labels" if data.labels is not None else "similarity"
    if spec is not None and spec.shared_classifier and obj != "labels":
        raise ValueError(
            f"{spec.name} differs from mrl only by its weight-shared classifier, which only "
            f"the labels objective has; with objective={obj} it would train the same weights "
            "as mrl: use mrl here (or train on a labelled field)"
        )
    if obj == "pairs" and not data.paired:
        raise ValueError("objective=pairs needs a two-field split with relevance pairs")
    if obj == "labels" and data.labels is None:
        raise ValueError("objective=labels needs labels on the training field")
    d = data.d
    nesting = p.nesting or nesting_dims(d, p.smallest_m)
    nesting = sorted({int(m) for m in nesting if 0 < int(m) <= d})
    if k is not None and k <= d and k not in nesting:
        nesting = sorted({*nesting, int(k)})  # make sure the evaluated budget is trained
    return replace(p, nesting=nesting, objective=obj)


class MRLObjective:
    """Matryoshka loss: sum over nested prefixes m of a per-prefix loss."""

    def __init__(
        self, head: MRLHead, clf: PrefixClassifiers | None, data: TrainingData, p: MRLParams
    ) -> None:
        assert p.nesting is not None and p.objective != "auto"  # resolve_mrl_params first
        self.head, self.clf, self.data, self.p = head, clf, data, p
        self.objective = p.objective
        self.nesting: list[int] = list(p.nesting)
        multimodal = data.modality == "multimodal"
        self.symmetric = p.symmetric if isinstance(p.symmetric, bool) else multimodal
        scale = p.logit_scale if p.logit_scale is not None else data.logit_scale
        self.scale = float(scale) if multimodal and scale is not None else 1.0 / p.temperature

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


class FittedMRL(FittedMethod):
    def __init__(
        self,
        spec: MethodSpec,
        k: int | None,
        d: int,
        params: MRLParams,
        head: MRLHead,
        classifiers: PrefixClassifiers | None,
    ) -> None:
        super().__init__(spec, k, d, params)
        self.head = head
        self.classifiers = classifiers

    @classmethod
    def fit(
        cls,
        spec: MethodSpec,
        k: int | None,
        split: SplitEmbeddings,
        params: MRLParams,
        device: torch.device,
        seed: int,
    ) -> FittedMRL:
        data = TrainingData.load(split, params.fields, params.modality, device)
        p = resolve_mrl_params(params, data, k, spec)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head, clf = build_mrl(spec, data.d, p, data.n_classes)
        head.to(device).train()
        if clf is not None:
            clf.to(device).train()
        objective = MRLObjective(head, clf, data, p)
        result = train(objective, data.n_units, TrainConfig.from_params(p, seed, spec.name), device)
        head.eval()
        fitted = cls(spec, k, data.d, p, head, clf)
        fitted.device = device
        fitted.summary = result.summary
        fitted.log = result.rows
        fitted.extra_config["n_classes"] = data.n_classes
        return fitted

    @classmethod
    def from_saved(
        cls, spec: MethodSpec, config: dict[str, Any], params: MRLParams, tensors: dict[str, Tensor]
    ) -> FittedMRL:
        d = int(config["d"])
        head, clf = build_mrl(spec, d, params, int(config.get("n_classes") or 0))
        head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
        if clf is not None:
            clf.load_state_dict(
                {k[12:]: v for k, v in tensors.items() if k.startswith("classifiers.")}
            )
        head.eval()
        return cls(spec, config["k"], d, params, head, clf)

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
