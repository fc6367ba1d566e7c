"""The CSR family (csr, sae, csr-v2): a TopK sparse autoencoder trained on frozen embeddings.

    Loss = L(k) + w * L(multi_k * k) + beta * L_aux + gamma * L_contrastive

sae is csr with gamma pinned at 0 (the registry fixes it); csr-v2 anneals k from k_init
down to k and, when "auto", takes label positives before self-positives (the registry's
`anneal_k` and `supervised_positives` flags). The data-dependent "auto" parameters
(positives, contrastive_on, symmetric, logit_scale, h) are resolved once, by
`resolve_csr_params`, and the resolved values are what config.json records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from csrbench.codes import SparseCodes
from csrbench.losses import (
    auxk_loss,
    auxk_loss_paper,
    cosine_logits,
    false_negative_mask,
    info_nce_pairs,
    info_nce_self,
    mse,
    normalize_code_values,
    sparse_code_similarity,
)
from csrbench.methods.base import FittedMethod
from csrbench.methods.data import TrainingData
from csrbench.methods.params import CSRParams, build_params
from csrbench.methods.registry import MethodSpec, method_spec
from csrbench.models.csr import CSR
from csrbench.store import SplitEmbeddings
from csrbench.train import TrainConfig, train


def build_csr(d: int, h: int, k: int, p: CSRParams) -> CSR:
    """The CSR module of (d, h, k) with the parameters' architecture (fit and load)."""
    return CSR(
        d,
        h,
        k,
        k_aux=p.k_aux,
        dead_threshold=p.dead_threshold,
        tied=p.tied,
        sparse_backward=p.sparse_backward,
    )


def resolve_csr_params(p: CSRParams, spec: MethodSpec, data: TrainingData, h: int) -> CSRParams:
    """`p` with its data-dependent "auto" values decided, checked against the data."""
    pos = p.positives
    if pos == "auto":
        if data.paired:
            pos = "pairs"
        elif spec.supervised_positives and data.labels is not None:
            pos = "labels"
        else:
            pos = "self"
    if pos == "pairs" and not data.paired:
        raise ValueError("positives=pairs needs a two-field split with relevance pairs")
    if pos == "labels" and data.labels is None:
        raise ValueError("positives=labels needs labels on the training field")
    on = p.contrastive_on
    if on == "auto":
        on = "recon" if data.modality == "multimodal" else "codes"
    if on == "recon" and pos != "pairs":
        raise ValueError("contrastive_on=recon (CLIP form) needs pairs as positives")
    symmetric = p.symmetric if isinstance(p.symmetric, bool) else data.modality == "multimodal"
    scale = p.logit_scale if p.logit_scale is not None else data.logit_scale
    return replace(
        p,
        h=h,
        positives=pos,
        contrastive_on=on,
        symmetric=symmetric,
        logit_scale=float(scale) if scale is not None else 100.0,
    )


class CSRObjective:
    """Loss = L(k) + w*L(multi_k * k) + beta*L_aux + gamma*L_contrastive for one batch."""

    def __init__(
        self,
        model: CSR,
        data: TrainingData,
        params: CSRParams | Mapping[str, Any],
        spec: MethodSpec | str,
        k: int,
    ) -> None:
        spec = spec if isinstance(spec, MethodSpec) else method_spec(spec)
        if not isinstance(params, CSRParams):  # a plain dict: build it (once) here
            params = build_params(spec.name, data.modality, params)
        self.model, self.data, self.k = model, data, k
        self.anneal = spec.anneal_k
        self.k_init = max(getattr(params, "k_init", k), k)
        if self.anneal and self.k_init > model.h:
            raise ValueError(f"k_init={self.k_init} exceeds h={model.h}")
        self.p = p = resolve_csr_params(params, spec, data, model.h)
        self.gamma, self.beta = p.gamma, p.beta

    def parameters(self):
        return self.model.parameters()

    def k_at(self, step: int, total: int) -> int:
        """csr-v2: linear from k_init to k over the first anneal_frac of the steps."""
        if not self.anneal:
            return self.k
        span = max(1.0, self.p.anneal_frac * total)  # type: ignore[attr-defined]
        frac = min(1.0, step / span)
        return round(self.k_init + (self.k - self.k_init) * frac)

    def batch(self, ids: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        d = self.data
        if d.pairs is None:
            return d.x[0][ids].float(), None, None
        src, tgt = d.pairs[ids, 0], d.pairs[ids, 1]
        return torch.cat([d.x[0][src], d.x[1][tgt]]).float(), src, tgt

    def step(self, ids: Tensor, step: int, total: int) -> dict[str, Tensor | float]:
        model = self.model
        k = self.k_at(step, total)
        x, src, tgt = self.batch(ids)
        k_top = min(self.p.multi_k * k, model.h)
        enc = model.encode_train(x, k_top=k_top, aux=self.beta > 0, update_stats_k=k)
        n_aux = 0 if enc.idx_aux is None else enc.idx_aux.shape[1]
        parts = model.decode_parts(enc.all_idx, enc.all_vals, [k, k_top - k, n_aux])
        x_hat = parts[0] + model.pre_bias
        loss_k = mse(x_hat, x)
        loss_multi = mse(x_hat + parts[1], x) if k_top > k else loss_k
        e_hat = parts[-1] if n_aux else None
        if self.p.auxk_form == "paper":
            fields = 1 if src is None else 2  # a paired batch stacks queries over documents
            loss_aux = auxk_loss_paper(e_hat, (x - x_hat).detach(), model.pre_bias, fields)
        else:
            loss_aux = auxk_loss(e_hat, (x - x_hat).detach())
        loss_c = x.new_zeros(())
        if self.gamma > 0:
            loss_c = self.contrastive(enc.idx[:, :k], enc.vals[:, :k], x_hat, ids, src, tgt)
        loss = (
            loss_k + self.p.multi_k_weight * loss_multi + self.beta * loss_aux + self.gamma * loss_c
        )
        return {
            "loss": loss,
            "loss_k": loss_k,
            "loss_multi_k": loss_multi,
            "loss_aux": loss_aux,
            "loss_contrastive": loss_c,
            "k": k,
        }

    def contrastive(self, idx, vals, x_hat, ids, src, tgt) -> Tensor:
        t = self.p.temperature
        h = self.model.h
        if self.p.positives == "pairs":
            b = len(ids)
            ignore = false_negative_mask(src, tgt)
            if self.p.contrastive_on == "recon":
                logits = cosine_logits(x_hat[:b], x_hat[b:], self.p.logit_scale)  # type: ignore[arg-type]
            else:
                vn = normalize_code_values(vals)
                logits = sparse_code_similarity(idx[:b], vn[:b], idx[b:], vn[b:], h) / t
            return info_nce_pairs(logits, self.p.symmetric, ignore)  # type: ignore[arg-type]
        vn = normalize_code_values(vals)
        sim = sparse_code_similarity(idx, vn, idx, vn, h)
        labels = self.data.labels[ids] if self.p.positives == "labels" else None  # type: ignore[index]
        return info_nce_self(sim, t, labels)

    def after_step(self) -> dict[str, Tensor | float]:
        return {"dead_frac": self.model.dead_mask().float().mean()}


class FittedCSR(FittedMethod):
    sparse = True

    def __init__(
        self, spec: MethodSpec, k: int | None, d: int, params: CSRParams, model: CSR
    ) -> None:
        super().__init__(spec, k, d, params)
        self.model = model
        self.h = model.h

    @classmethod
    def fit(
        cls,
        spec: MethodSpec,
        k: int | None,
        split: SplitEmbeddings,
        params: CSRParams,
        device: torch.device,
        seed: int,
    ) -> FittedCSR:
        assert k is not None  # the family is fitted per k (fit checks)
        p = params
        data = TrainingData.load(split, p.fields, p.modality, device)
        d = data.d
        h = p.h if p.h is not None else p.expansion * d
        if k > h:
            raise ValueError(f"k={k} exceeds the number of latents h={h}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_csr(d, h, k, p)
        if p.init_pre_bias == "mean":
            with torch.no_grad():
                model.pre_bias.copy_(
                    torch.cat([x.float().mean(0, keepdim=True) for x in data.x]).mean(0)
                )
        model.to(device).train()
        obj = CSRObjective(model, data, p, spec, k)
        result = train(
            obj, data.n_units, TrainConfig.from_params(p, seed, f"{spec.name} k={k}"), device
        )
        model.eval()
        fitted = cls(spec, k, d, obj.p, model)
        fitted.device = device
        fitted.summary = result.summary
        fitted.log = result.rows
        return fitted

    @classmethod
    def from_saved(
        cls, spec: MethodSpec, config: dict[str, Any], params: CSRParams, tensors: dict[str, Tensor]
    ) -> FittedCSR:
        d, k = int(config["d"]), int(config["k"])
        model = build_csr(d, int(config["h"]), k, params)
        model.load_state_dict(tensors)
        model.eval()
        return cls(spec, k, d, params, model)

    def to(self, device: str | torch.device) -> FittedCSR:
        super().to(device)
        self.model.to(self.device)
        return self

    def _encode_batch(self, x: Tensor, k: int | None) -> tuple[Tensor, Tensor]:
        self.model.eval()
        return self.model.encode(x.float(), k)

    def _collect(self, outs: list[Any], value_dtype: str) -> SparseCodes:
        idx = torch.cat([o[0] for o in outs]) if outs else torch.zeros(0, self.k or 0)
        vals = torch.cat([o[1] for o in outs]) if outs else torch.zeros(0, self.k or 0)
        return SparseCodes.from_torch(idx, vals, self.h, value_dtype=value_dtype)

    def state_tensors(self) -> dict[str, Tensor]:
        return dict(self.model.state_dict())

    def config(self) -> dict[str, Any]:
        c = super().config()
        c["h"] = self.h
        return c
