"""Loss terms of CSR and MRL: reconstruction, AuxK, contrastive (InfoNCE), Matryoshka.

Contrastive similarities between sparse codes are computed from the (index, value) form:
an N x N similarity of k-sparse codes costs N*N*k with `embedding_bag` instead of the
N*N*h of a dense matmul, which is what makes the image setting (batch 4096, h = 8192)
affordable without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def mse(recon: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(recon.float(), target.float())


def normalized_mse(recon: Tensor, target: Tensor) -> Tensor:
    """MSE divided by the batch variance of the target (Gao et al. 2024's AuxK normaliser).

    A constant (zero-variance) target falls back to the plain MSE instead of dividing by 0.
    """
    recon, target = recon.float(), target.float()
    var = F.mse_loss(target.mean(dim=0, keepdim=True).expand_as(target), target)
    var = torch.where(var > 0, var, torch.ones_like(var))
    return F.mse_loss(recon, target) / var


def auxk_loss(residual_hat: Tensor | None, residual: Tensor) -> Tensor:
    """AuxK: how well the dead latents reconstruct the (detached) residual x - x_hat_k.

    `residual_hat` is W_dec z_aux without the pre-bias (the pre-bias is part of x_hat_k
    already); None means no latent is dead, and the loss is then exactly zero.
    """
    if residual_hat is None:
        return residual.new_zeros((), dtype=torch.float32)
    return normalized_mse(residual_hat, residual.detach())


def auxk_loss_paper(
    residual_hat: Tensor | None, residual: Tensor, pre_bias: Tensor, fields: int = 1
) -> Tensor:
    """AuxK as the paper's (and Gao et al.'s) code writes it: normalised MSE between
    W_dec z_aux + b_pre and e + b_pre.detach(), z_aux = 0 when nothing is dead.

    Same value as `auxk_loss` when latents are dead, but the pre-bias also receives this
    loss's gradient, and with no dead latent the loss is mean(e^2)/var(e), not zero, and
    still moves the pre-bias towards the mean residual. A batch that stacks `fields`
    equal-sized fields (queries over documents) is normalised field by field and the
    fields' losses averaged, as the official text code does: a query's residual is then
    not scaled by the documents' variance.
    """
    hat = residual_hat if residual_hat is not None else torch.zeros_like(residual)
    b = pre_bias.float()
    hat, target = hat.float() + b, residual.detach().float() + b.detach()
    if fields < 1 or len(target) % fields:
        raise ValueError(f"a batch of {len(target)} rows does not split into {fields} fields")
    losses = [
        normalized_mse(h, t).nan_to_num(0.0)
        for h, t in zip(hat.chunk(fields), target.chunk(fields), strict=True)
    ]
    return torch.stack(losses).mean()


def normalize_code_values(vals: Tensor, eps: float = 1e-12) -> Tensor:
    """L2-normalise k-sparse codes given by their values (indices within a row are distinct)."""
    return vals / vals.norm(dim=1, keepdim=True).clamp_min(eps)


def sparse_code_similarity(
    idx_a: Tensor, val_a: Tensor, idx_b: Tensor, val_b: Tensor, h: int
) -> Tensor:
    """S[i, j] = <a_i, b_j> for sparse codes, as an [Na, Nb] dense matrix.

    b is scattered into a dense [h, Nb] table (Nb*h memory, no N*N*h compute), and each
    row of a gathers its k rows of that table weighted by its k values.
    """
    nb = idx_b.shape[0]
    dense_b = torch.zeros(nb, h, dtype=val_b.dtype, device=val_b.device)
    dense_b = dense_b.scatter_add(1, idx_b, val_b)
    table = dense_b.t().contiguous()
    return F.embedding_bag(idx_a, table, per_sample_weights=val_a.to(table.dtype), mode="sum")


def info_nce_self(sim: Tensor, temperature: float, labels: Tensor | None = None) -> Tensor:
    """The paper's in-batch contrastive loss with two identical views, computed from one.

    The paper's code encodes the batch twice (deterministically, so both views are equal),
    stacks the two views (2N rows) and, for each row, takes as positives the other view of
    the same sample (and, with `labels`, every view of a same-label sample) and as
    negatives every view of the other samples; loss = -mean log(pos / (pos + neg)) with
    sums of exp(sim / t). With equal views the 2N x 2N matrix is the N x N one repeated,
    so each off-diagonal term appears twice and the view-pair term is the diagonal:
    same value and same gradient, a quarter of the work.
    """
    n = sim.shape[0]
    logits = sim.float() / temperature
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    # every off-diagonal term counts twice (both views): + log 2; the diagonal holds the
    # view-pair term once
    terms = torch.where(eye, logits, logits + math.log(2.0))
    total = torch.logsumexp(terms, 1)
    if labels is None:
        pos = logits.diagonal()
    else:
        same = labels[:, None] == labels[None, :]
        pos = torch.logsumexp(terms.masked_fill(~same, float("-inf")), 1)
    return (total - pos).mean()


def info_nce_self_two_view_reference(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """The paper's two-view formula written out (used by tests to check `info_nce_self`)."""
    n = z1.shape[0]
    idx = torch.arange(n, device=z1.device).repeat(2)
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = torch.exp(z @ z.t() / temperature)
    pos_mask = idx[:, None] == idx[None, :]
    pos_mask.fill_diagonal_(False)
    neg_mask = idx[:, None] != idx[None, :]
    pos = (sim * pos_mask).sum(1)
    neg = (sim * neg_mask).sum(1)
    return -torch.log(pos / (pos + neg)).mean()


def false_negative_mask(src: Tensor | None, tgt: Tensor | None) -> Tensor | None:
    """Off-diagonal entries that are positives too (same query row or same document row).

    With graded qrels a batch of (query, doc) pairs can hold the same query or the same
    document twice; counting those as negatives would push relevant pairs apart.
    """
    if src is None and tgt is None:
        return None
    n = (src if src is not None else tgt).shape[0]  # type: ignore[union-attr]
    mask = torch.zeros(n, n, dtype=torch.bool, device=(src if src is not None else tgt).device)  # type: ignore[union-attr]
    if src is not None:
        mask |= src[:, None] == src[None, :]
    if tgt is not None:
        mask |= tgt[:, None] == tgt[None, :]
    mask.fill_diagonal_(False)
    return mask


def info_nce_pairs(logits: Tensor, symmetric: bool, ignore: Tensor | None = None) -> Tensor:
    """Cross-entropy with the diagonal as the positive (row i of a pairs with column i of b).

    `logits` are already scaled (1/temperature, or CLIP's logit scale); `ignore` marks
    off-diagonal entries to drop from the denominators. Symmetric = CLIP's mean of both
    directions; one-directional = the paper's text code (query -> document).
    """
    logits = logits.float()
    if ignore is not None:
        logits = logits.masked_fill(ignore, float("-inf"))
    target = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), target))
    return loss


def cosine_logits(a: Tensor, b: Tensor, scale: float) -> Tensor:
    """scale * cos(a_i, b_j) for dense vectors (CLIP's form on reconstructions / MRL prefixes)."""
    return scale * (F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).t())


def nesting_dims(d: int, smallest: int = 8) -> list[int]:
    """MRL's nesting list: 8, 16, 32, ... up to d, with d itself always included."""
    dims = []
    m = smallest
    while m < d:
        dims.append(m)
        m *= 2
    dims.append(d)
    return dims


def matryoshka_loss(
    z: Tensor | Sequence[Tensor],
    nesting: Sequence[int],
    prefix_loss: Callable[..., Tensor],
    weights: Sequence[float] | None = None,
) -> tuple[Tensor, dict[int, Tensor]]:
    """sum_m w_m * prefix_loss(z[:, :m], m) (each of several tensors is cut at m).

    Returns the total and the per-prefix terms (for logging).
    """
    tensors = [z] if isinstance(z, Tensor) else list(z)
    weights = [1.0] * len(nesting) if weights is None else list(weights)
    terms: dict[int, Tensor] = {}
    total = tensors[0].new_zeros((), dtype=torch.float32)
    for m, w in zip(nesting, weights, strict=True):
        term = prefix_loss(*[t[:, :m] for t in tensors], m)
        terms[m] = term
        total = total + w * term
    return total, terms


def similarity_preservation(prefix: Tensor, full: Tensor) -> Tensor:
    """MSE between the in-batch cosine-similarity matrices of a prefix and of the input.

    The unsupervised Matryoshka objective (as Matryoshka-Adaptor's pairwise loss) for data
    with neither labels nor pairs.
    """
    a = F.normalize(prefix.float(), dim=-1)
    b = F.normalize(full.float(), dim=-1)
    return F.mse_loss(a @ a.t(), b @ b.t())
