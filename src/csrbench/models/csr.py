"""The CSR model: a TopK sparse autoencoder over frozen embeddings.

    z     = ReLU(TopK_k(W_enc (x - b_pre) + b_enc))        sparse code, exactly k slots
    x_hat = W_dec z + b_pre                                  W_dec = W_enc^T when tied

Why it is written this way (and not as the paper's code is):

* The paper's code materialises every code as a dense h-wide vector and decodes it with
  a dense [h, d] matmul, for the top-k, the top-4k and the AuxK codes, in three forward
  passes per step. Here the encoder matmul runs once per step, the top-4k selection
  contains the top-k selection as its prefix, and every decode is a gather over the k
  (or 4k, or k_aux) selected decoder rows (`F.embedding_bag` with per-sample weights).
* The encoder's backward only needs the gradients of the selected pre-activations, so a
  custom autograd function (`_GatherLinear`) computes the weight gradient from the
  N x K selected entries (sparse matmul) instead of a dense N x h gradient matrix when
  that is cheaper, and the pre-bias gradient from a length-h sum instead of an N x d matmul.
* TopK is deterministic: the selected set is the top k by value with ties broken by the
  lower latent index, and slots are stored in (value descending, index ascending) order,
  so the same input gives the same code on every run and the top-k code is always the
  first k slots of the top-4k code.
* Dead latents are counted per optimiser step (the paper's code counts per forward call,
  three per step, and also counts a latent as alive when it is only in the top-4k).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def topk_stable(x: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Top-k along the last dim with deterministic ties; returns (indices int64, values).

    `torch.topk` does not specify which of several equal values it picks at the boundary
    (and bf16 pre-activations tie often), so rows whose k-th and (k+1)-th values are equal
    are redone with a stable descending sort, which prefers the lower index. Slots are
    then put in canonical (value descending, index ascending) order.
    """
    h = x.shape[1]
    if not 0 < k <= h:
        raise ValueError(f"k must be in [1, {h}], got {k}")
    kk = min(k + 1, h)
    vals, idx = torch.topk(x, kk, dim=1, largest=True, sorted=True)
    # ties at the boundary (which latent is selected) and inside the selection (slot
    # order); topk's output is already by value descending, so rows without ties are done
    tie = vals[:, k - 1] == vals[:, k] if kk > k else None
    vals, idx = vals[:, :k].contiguous(), idx[:, :k].contiguous()
    inner = (vals[:, 1:] == vals[:, :-1]).any(dim=1) if k > 1 else None
    flags = [t for t in (tie, inner) if t is not None]
    if not flags or not bool(torch.stack(flags).any()):  # one host sync in the common case
        return idx, vals
    if tie is not None and bool(tie.any()):
        rows = tie.nonzero().squeeze(1)
        sv, si = torch.sort(x[rows], dim=1, descending=True, stable=True)
        vals[rows] = sv[:, :k]
        idx[rows] = si[:, :k]
    rows = (vals[:, 1:] == vals[:, :-1]).any(dim=1).nonzero().squeeze(1) if k > 1 else None
    if rows is not None and rows.numel():
        ri, rv = canonical_order(idx[rows], vals[rows])
        idx[rows], vals[rows] = ri, rv
    return idx, vals


def canonical_order(idx: Tensor, vals: Tensor) -> tuple[Tensor, Tensor]:
    """Sort each row's slots by (value descending, index ascending)."""
    idx_sorted, perm = torch.sort(idx, dim=1)
    vals_sorted = vals.gather(1, perm)
    vals_out, perm2 = torch.sort(vals_sorted, dim=1, descending=True, stable=True)
    return idx_sorted.gather(1, perm2), vals_out


def use_sparse_backward(n_selected: int, h: int, device: torch.device, mode: str | bool) -> bool:
    """Whether the encoder weight gradient should use a sparse matmul.

    The dense route scatters the N x K selected gradients into N x h and does one GEMM
    (cost N*h*d, fast per flop); the sparse route costs N*K*d at a worse rate. Measured on
    CPU the sparse route wins when K is below about h/12; on GPUs dense GEMMs are so fast
    that it takes K below about h/64.
    """
    if isinstance(mode, bool):
        return mode
    if mode in ("true", "on", "sparse"):
        return True
    if mode in ("false", "off", "dense"):
        return False
    ratio = 12 if device.type == "cpu" else 64
    return n_selected * ratio < h


class _GatherLinear(torch.autograd.Function):
    """values[n, j] = (x[n] - b_pre) . W[idx[n, j]] + b_enc[idx[n, j]], sparse backward.

    The pre-activations `pre` are computed (densely, without autograd) by the caller, who
    needs all of them to choose `idx`; this function only gathers them and supplies the
    gradient for the gathered entries.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: Tensor,
        pre_bias: Tensor,
        weight: Tensor,
        latent_bias: Tensor,
        idx: Tensor,
        pre: Tensor,
        sparse_bwd: bool,
    ) -> Tensor:
        ctx.save_for_backward(x, pre_bias, weight, idx)
        ctx.sparse_bwd = sparse_bwd
        return pre.gather(1, idx).float()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, g: Tensor):  # type: ignore[override]
        x, pre_bias, weight, idx = ctx.saved_tensors
        n, kk = idx.shape
        h = weight.shape[0]
        g = g.float().contiguous()
        flat_idx = idx.reshape(-1)
        g_sum = torch.zeros(h, device=g.device, dtype=torch.float32)
        g_sum.index_add_(0, flat_idx, g.reshape(-1))
        need_x, need_pb, need_w, need_lb = ctx.needs_input_grad[:4]
        grad_x = grad_pb = grad_w = grad_lb = None
        if need_lb:
            grad_lb = g_sum
        if need_pb:
            # d/d b_pre of sum_nj g_nj (x_n - b_pre).W_j = -(sum_nj g_nj W_j): reduce first.
            grad_pb = -(g_sum @ weight.float()).to(pre_bias.dtype)
        if need_w:
            xc = x.float() - pre_bias.float()
            if ctx.sparse_bwd:
                rows = torch.arange(n, device=g.device).repeat_interleave(kk)
                s = torch.sparse_coo_tensor(
                    torch.stack([flat_idx, rows]), g.reshape(-1), (h, n), check_invariants=False
                )
                grad_w = torch.sparse.mm(s, xc)
            else:
                dense = torch.zeros(n, h, device=g.device, dtype=torch.float32)
                dense.scatter_add_(1, idx, g)
                grad_w = dense.t() @ xc
            grad_w = grad_w.to(weight.dtype)
        if need_x:
            grad_x = F.embedding_bag(idx, weight.float(), per_sample_weights=g, mode="sum")
            grad_x = grad_x.to(x.dtype)
        return grad_x, grad_pb, grad_w, grad_lb, None, None, None


class TrainCodes(NamedTuple):
    """`CSR.encode_train`'s codes: the top-k_top selection, then the AuxK selection.

    `vals` are differentiable (through the encoder); `all_idx` / `all_vals` are both
    selections side by side, the form `decode_parts` takes.
    """

    idx: Tensor  # [n, k_top] int64, canonical order (the top-k code is its prefix)
    vals: Tensor  # [n, k_top] >= 0
    pre: Tensor  # [n, h] pre-activations (no autograd)
    idx_aux: Tensor | None  # [n, k_aux'] dead latents' top pre-activations, or None
    vals_aux: Tensor | None
    all_idx: Tensor  # [n, k_top + k_aux']
    all_vals: Tensor


class CSR(nn.Module):
    """TopK sparse autoencoder (tied by default) with dead-latent tracking and AuxK.

    Parameters: `pre_bias` [d], `encoder_weight` [h, d] (row j is latent j's encoder
    direction and, when tied, its decoder atom), `latent_bias` [h], and when untied
    `decoder_weight_untied` [h, d]. Tied means one Parameter: the decoder reads the
    encoder's storage and both paths accumulate into the same `.grad`.
    """

    def __init__(
        self,
        d: int,
        h: int,
        k: int,
        k_aux: int = 512,
        dead_threshold: int = 10,
        tied: bool = True,
        sparse_backward: str | bool = "auto",
    ) -> None:
        super().__init__()
        if not 0 < k <= h:
            raise ValueError(f"k must be in [1, h={h}], got {k}")
        self.d, self.h, self.k = d, h, k
        self.k_aux = min(k_aux, h)
        self.dead_threshold = dead_threshold
        self.tied = tied
        self.sparse_backward = sparse_backward
        self.pre_bias = nn.Parameter(torch.zeros(d))
        # nn.Linear's default init (as the paper's code, which uses nn.Linear(d, h)).
        w = torch.empty(h, d)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.encoder_weight = nn.Parameter(w)
        self.latent_bias = nn.Parameter(torch.zeros(h))
        if tied:
            self.decoder_weight_untied = None
        else:
            # "tied init" (Gao et al. 2024): start from the encoder, then train separately.
            self.decoder_weight_untied = nn.Parameter(w.clone())
        self.steps_since_fired: Tensor
        self.register_buffer("steps_since_fired", torch.zeros(h, dtype=torch.long))

    @property
    def decoder_weight(self) -> Tensor:
        """[h, d]: row j is latent j's decoder atom (W_dec = decoder_weight^T)."""
        if self.decoder_weight_untied is None:
            return self.encoder_weight
        return self.decoder_weight_untied

    # ---- encoder -------------------------------------------------------------------

    def pre_activations(self, x: Tensor) -> Tensor:
        """W_enc (x - b_pre) + b_enc for every latent: [n, h] (no autograd)."""
        with torch.no_grad():
            return F.linear(x - self.pre_bias, self.encoder_weight, self.latent_bias)

    def dead_mask(self) -> Tensor:
        return self.steps_since_fired > self.dead_threshold

    def dead_fraction(self) -> float:
        return float(self.dead_mask().float().mean())

    @torch.no_grad()
    def update_dead_stats(self, idx: Tensor, vals: Tensor) -> None:
        """One optimiser step: latents with a positive value anywhere in the batch fired."""
        # index_add (not boolean indexing) so that a GPU step needs no host sync here
        count = torch.zeros(self.h, dtype=torch.long, device=idx.device)
        count.index_add_(0, idx.reshape(-1), (vals > 0).long().reshape(-1))
        self.steps_since_fired.add_(1).masked_fill_(count > 0, 0)

    @torch.no_grad()
    def encode(self, x: Tensor, k: int | None = None) -> tuple[Tensor, Tensor]:
        """Inference: (indices [n, k] int64, values [n, k] >= 0) in canonical order."""
        k = self.k if k is None else k
        pre = self.pre_activations(x.to(self.encoder_weight.dtype))
        idx, vals = topk_stable(pre, k)
        return idx, F.relu(vals)

    def encode_train(
        self, x: Tensor, k_top: int, aux: bool, update_stats_k: int | None = None
    ) -> TrainCodes:
        """Differentiable top-`k_top` code of x, and the AuxK code of the dead latents.

        When `update_stats_k` is given, the dead-latent counters advance by one step using
        the top-`update_stats_k` code before the dead mask is read (as Gao et al.: a latent
        that fires in this batch is not dead for this batch's AuxK).
        """
        pre = self.pre_activations(x)
        with torch.no_grad():
            idx, _ = topk_stable(pre, k_top)
        if update_stats_k is not None:
            with torch.no_grad():
                kk = update_stats_k
                self.update_dead_stats(idx[:, :kk], pre.gather(1, idx[:, :kk]))
        idx_aux = None
        if aux and self.k_aux > 0:
            dead = self.dead_mask()
            n_dead = int(dead.sum())
            if n_dead > 0:
                with torch.no_grad():
                    masked = pre.masked_fill(~dead, float("-inf"))
                    idx_aux, _ = topk_stable(masked, min(self.k_aux, n_dead))
        all_idx = idx if idx_aux is None else torch.cat([idx, idx_aux], dim=1)
        sparse = use_sparse_backward(all_idx.shape[1], self.h, x.device, self.sparse_backward)
        vals = _GatherLinear.apply(
            x, self.pre_bias, self.encoder_weight, self.latent_bias, all_idx, pre, sparse
        )
        vals = F.relu(vals)
        return TrainCodes(
            idx=idx,
            vals=vals[:, :k_top],
            pre=pre,
            idx_aux=idx_aux,
            vals_aux=None if idx_aux is None else vals[:, k_top:],
            all_idx=all_idx,
            all_vals=vals,
        )

    # ---- decoder -------------------------------------------------------------------

    def decode_sparse(self, idx: Tensor, vals: Tensor, bias: bool = True) -> Tensor:
        """W_dec z (+ b_pre) from the k stored slots: a gather of k decoder rows per sample."""
        w = self.decoder_weight
        out = F.embedding_bag(idx, w, per_sample_weights=vals.to(w.dtype), mode="sum")
        return out + self.pre_bias if bias else out

    def decode_parts(self, idx: Tensor, vals: Tensor, sizes: list[int]) -> list[Tensor]:
        """W_dec z for consecutive groups of slots (e.g. top-k | the rest of top-4k | AuxK).

        One `embedding_bag` call with one bag per (row, group) instead of one call per
        group: the backward then zero-fills and scatters the decoder gradient once.
        Returns one [n, d] tensor per group, without the pre-bias.
        """
        n, total = idx.shape
        if sum(sizes) != total:
            raise ValueError(f"group sizes {sizes} do not add up to {total} slots")
        sizes = [s for s in sizes if s > 0]
        starts = torch.tensor([0, *sizes[:-1]], device=idx.device).cumsum(0)
        offsets = (torch.arange(n, device=idx.device)[:, None] * total + starts[None, :]).reshape(
            -1
        )
        w = self.decoder_weight
        out = F.embedding_bag(
            idx.reshape(-1), w, offsets, mode="sum", per_sample_weights=vals.reshape(-1).to(w.dtype)
        )
        out = out.view(n, len(sizes), -1)
        return [out[:, i] for i in range(len(sizes))]

    def decode_dense(self, z: Tensor) -> Tensor:
        """W_dec z + b_pre from an [n, h] dense code (reference path, tests only)."""
        return z @ self.decoder_weight + self.pre_bias

    def forward(self, x: Tensor, k: int | None = None) -> Tensor:
        """Reconstruction from the top-k code."""
        idx, vals = self.encode(x, k)
        return self.decode_sparse(idx, vals)


def codes_to_dense(idx: Tensor, vals: Tensor, h: int) -> Tensor:
    """[n, h] dense view of (idx, vals); tests and small sets only."""
    out = torch.zeros(idx.shape[0], h, dtype=vals.dtype, device=vals.device)
    return out.scatter_add(1, idx, vals)
