"""PCA against scikit-learn, seeded feature selection, quantisers."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from csrbench.models.baselines import (
    binarize,
    fit_int8_scale,
    fit_pca,
    pack_binary,
    quantize_int8,
    random_permutation,
)


def test_pca_matches_sklearn_up_to_sign():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) + 3).astype(np.float32)
    mean, comps, var = fit_pca(x)
    sk = PCA(n_components=5, svd_solver="full").fit(x)
    ours = comps[:5].numpy()
    signs = np.sign((ours * sk.components_).sum(1))
    assert np.allclose(ours * signs[:, None], sk.components_, atol=1e-4)
    assert np.allclose(var[:5].numpy(), sk.explained_variance_, rtol=1e-4)
    proj = (torch.from_numpy(x) - mean) @ comps[:5].t()
    assert np.allclose(proj.numpy() * signs, sk.transform(x), atol=1e-3)


def test_random_permutation_is_seeded():
    assert torch.equal(random_permutation(50, 3), random_permutation(50, 3))
    assert not torch.equal(random_permutation(50, 3), random_permutation(50, 4))
    assert sorted(random_permutation(50, 3).tolist()) == list(range(50))


def test_int8_preserves_inner_products_up_to_scale():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 64)).astype(np.float32)
    scale = fit_int8_scale(x)
    q = quantize_int8(torch.from_numpy(x), scale)
    assert q.dtype == torch.int8 and int(q.abs().max()) == 127
    approx = q.float() * scale
    assert float((approx - torch.from_numpy(x)).abs().max()) <= float(scale) / 2 + 1e-6
    dots = (q.float() @ q.float().t()).numpy() * float(scale) ** 2
    assert np.allclose(dots, x @ x.T, atol=0.5)


def test_binary_codes_and_packing():
    x = torch.tensor([[0.5, -1.0, 2.0, 0.0, 0.1, -0.1, 3.0, 1.0, -2.0]])
    b = binarize(x, torch.zeros(9))
    assert b.tolist() == [[1, -1, 1, -1, 1, -1, 1, 1, -1]]
    packed = pack_binary(b.numpy())
    assert packed.shape == (1, 2) and packed.dtype == np.uint8
