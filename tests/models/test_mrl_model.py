"""Matryoshka heads and loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from csrbench.losses import matryoshka_loss, nesting_dims
from csrbench.models.mrl import MRLHead, PrefixClassifiers


def test_nesting_dims():
    assert nesting_dims(384) == [8, 16, 32, 64, 128, 256, 384]
    assert nesting_dims(2048) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048]
    assert nesting_dims(8) == [8]


def test_heads_start_at_identity():
    x = torch.randn(5, 24)
    for kind in ("linear", "mlp"):
        assert torch.allclose(MRLHead(24, kind)(x), x, atol=1e-6)


def test_matryoshka_loss_is_the_sum_of_independent_prefix_losses():
    torch.manual_seed(0)
    nesting = [8, 16, 32]
    z = torch.randn(10, 32, requires_grad=True)
    y = torch.randint(0, 5, (10,))
    for efficient in (False, True):
        clf = PrefixClassifiers(nesting, 5, efficient)

        def prefix_ce(zm, m, clf=clf):
            return F.cross_entropy(clf.logits(zm, m), y)

        total, terms = matryoshka_loss(z, nesting, prefix_ce)
        separate = []
        for i, m in enumerate(nesting):
            if efficient:
                w, b = clf.shared.weight[:, :m], clf.shared.bias
            else:
                w, b = clf.heads[i].weight, clf.heads[i].bias
            separate.append(F.cross_entropy(z[:, :m] @ w.t() + b, y))
        assert torch.allclose(total, sum(separate))
        assert torch.allclose(terms[16], separate[1])
        # every prefix loss reaches the first 8 dims; only the full one reaches dims 16..31
        (g,) = torch.autograd.grad(terms[8], z)
        assert g[:, 8:].abs().sum() == 0 and g[:, :8].abs().sum() > 0


def test_mrl_e_shares_one_classifier():
    e = PrefixClassifiers([8, 16], 3, efficient=True)
    full = PrefixClassifiers([8, 16], 3, efficient=False)
    assert sum(p.numel() for p in e.parameters()) == 16 * 3 + 3
    assert sum(p.numel() for p in full.parameters()) == (8 + 16) * 3 + 2 * 3
