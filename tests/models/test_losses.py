"""Loss terms: the one-view self-positive InfoNCE equals the paper's two-view form, sparse
similarities equal dense ones, masks and normalisers do what they say."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from csrbench.losses import (
    false_negative_mask,
    info_nce_pairs,
    info_nce_self,
    info_nce_self_two_view_reference,
    normalize_code_values,
    normalized_mse,
    sparse_code_similarity,
)
from csrbench.models.csr import codes_to_dense, topk_stable


def _codes(n: int, h: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    idx, vals = topk_stable(torch.randn(n, h, generator=g), k)
    return idx, F.relu(vals) + 0.01


def test_sparse_similarity_equals_dense():
    ia, va = _codes(9, 50, 5, 0)
    ib, vb = _codes(7, 50, 5, 1)
    dense = codes_to_dense(ia, va, 50) @ codes_to_dense(ib, vb, 50).t()
    assert torch.allclose(sparse_code_similarity(ia, va, ib, vb, 50), dense, atol=1e-5)


def test_self_infonce_equals_paper_two_view_form_value_and_gradient():
    idx, vals = _codes(12, 40, 4, 2)
    vals.requires_grad_(True)
    vn = normalize_code_values(vals)
    ours = info_nce_self(sparse_code_similarity(idx, vn, idx, vn, 40), 0.2)
    (g_ours,) = torch.autograd.grad(ours, vals)
    dense = codes_to_dense(idx, vals, 40)
    ref = info_nce_self_two_view_reference(dense, dense, 0.2)
    (g_ref,) = torch.autograd.grad(ref, vals)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert torch.allclose(g_ours, g_ref, atol=1e-5)


def test_label_positives_lower_the_loss_when_same_label_codes_agree():
    idx, vals = _codes(8, 30, 3, 3)
    idx[4:] = idx[:4]
    vals[4:] = vals[:4]  # rows i and i + 4 identical
    vn = normalize_code_values(vals)
    sim = sparse_code_similarity(idx, vn, idx, vn, 30)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    assert info_nce_self(sim, 0.2, labels) < info_nce_self(sim, 0.2, None)


def test_pairs_infonce_masks_false_negatives():
    logits = torch.randn(4, 4)
    src = torch.tensor([0, 1, 1, 2])  # rows 1 and 2 are the same query
    mask = false_negative_mask(src, None)
    assert mask.tolist()[1][2] and mask.tolist()[2][1] and not mask.diagonal().any()
    masked = info_nce_pairs(logits, symmetric=False, ignore=mask)
    manual = F.cross_entropy(logits.masked_fill(mask, float("-inf")), torch.arange(4))
    assert torch.allclose(masked, manual)
    sym = info_nce_pairs(logits, symmetric=True)
    both = 0.5 * (
        F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.t(), torch.arange(4))
    )
    assert torch.allclose(sym, both)


def test_normalized_mse_divides_by_batch_variance_and_survives_constant_targets():
    t = torch.randn(64, 8) * 3 + 1
    r = t + 0.1 * torch.randn(64, 8)
    var = ((t - t.mean(0)) ** 2).mean()
    assert torch.allclose(normalized_mse(r, t), ((r - t) ** 2).mean() / var)
    const = torch.ones(5, 3)
    assert torch.isfinite(normalized_mse(const * 2, const))


def test_paper_form_auxk_matches_residual_form_value_but_also_trains_the_pre_bias():
    from csrbench.losses import auxk_loss, auxk_loss_paper

    torch.manual_seed(0)
    e = torch.randn(16, 6)
    e_hat = torch.randn(16, 6, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    assert torch.allclose(auxk_loss(e_hat, e), auxk_loss_paper(e_hat, e, b))
    # nothing dead: ours is exactly 0, the paper's is mean(e^2)/var(e) and moves b_pre
    assert float(auxk_loss(None, e)) == 0.0
    paper = auxk_loss_paper(None, e, b)
    assert float(paper.detach()) > 0
    (g,) = torch.autograd.grad(paper, b)
    assert g.abs().sum() > 0


def test_paper_form_auxk_normalises_each_field_by_its_own_variance():
    """Official text code: 0.5 * (nmse(queries) + nmse(documents)), not one pooled nmse."""
    from csrbench.losses import auxk_loss_paper

    torch.manual_seed(1)
    q, d = torch.randn(8, 4), 10 * torch.randn(8, 4)  # documents' residuals 100x the variance
    q_hat, d_hat = torch.randn(8, 4), torch.randn(8, 4)
    b = torch.zeros(4)

    def nmse(h, t):
        return ((h - t) ** 2).mean() / ((t - t.mean(0)) ** 2).mean()

    per_field = auxk_loss_paper(torch.cat([q_hat, d_hat]), torch.cat([q, d]), b, fields=2)
    assert torch.allclose(per_field, (nmse(q_hat, q) + nmse(d_hat, d)) / 2)
    pooled = auxk_loss_paper(torch.cat([q_hat, d_hat]), torch.cat([q, d]), b)
    assert not torch.allclose(per_field, pooled, rtol=0.05)
    with pytest.raises(ValueError, match="does not split into 2 fields"):
        auxk_loss_paper(None, torch.randn(5, 4), b, fields=2)
