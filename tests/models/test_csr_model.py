"""CSR model: TopK codes, tied weights, sparse encoder gradients, decoding, AuxK."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from csrbench.losses import auxk_loss
from csrbench.models.csr import CSR, _GatherLinear, codes_to_dense, topk_stable

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(d: int = 16, h: int = 64, k: int = 4, tied: bool = True, seed: int = 0) -> CSR:
    torch.manual_seed(seed)
    m = CSR(d, h, k, k_aux=8, dead_threshold=3, tied=tied)
    with torch.no_grad():
        m.pre_bias.normal_(0, 0.1)
        m.latent_bias.normal_(0, 0.1)
    return m


def test_codes_have_k_distinct_slots_nonnegative_values():
    m = _model()
    x = torch.randn(50, 16)
    idx, vals = m.encode(x)
    assert idx.shape == vals.shape == (50, 4)
    assert all(len(set(r.tolist())) == 4 for r in idx)
    assert (vals >= 0).all()
    assert ((vals > 0).sum(1) <= 4).all()
    # a very negative latent bias makes ReLU zero some slots: still k slots, fewer non-zeros
    with torch.no_grad():
        m.latent_bias.fill_(-2.0)
    idx, vals = m.encode(x)
    assert idx.shape == (50, 4) and (vals == 0).any() and (vals >= 0).all()
    assert all(len(set(r.tolist())) == 4 for r in idx)


def test_codes_equal_relu_of_dense_topk():
    m = _model()
    x = torch.randn(20, 16)
    idx, vals = m.encode(x)
    pre = F.linear(x - m.pre_bias, m.encoder_weight, m.latent_bias)
    ref_vals, ref_idx = torch.topk(pre, 4, dim=1)
    assert torch.equal(torch.sort(idx, 1).values, torch.sort(ref_idx, 1).values)
    assert torch.allclose(vals, F.relu(ref_vals))


def test_topk_ties_break_by_lower_index_and_order_is_canonical():
    x = torch.tensor([[1.0, 3.0, 3.0, 3.0, 0.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])
    idx, vals = topk_stable(x, 2)
    assert idx.tolist() == [[1, 2], [0, 1]]
    assert vals.tolist() == [[3.0, 3.0], [2.0, 2.0]]
    # the top-k code is the prefix of the top-4k code, ties or not
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 4, (64, 40), generator=g).float()
    i8, v8 = topk_stable(x, 8)
    i2, v2 = topk_stable(x, 2)
    assert torch.equal(i8[:, :2], i2) and torch.equal(v8[:, :2], v2)
    assert (v8[:, :-1] >= v8[:, 1:]).all()


def test_tied_weights_are_one_parameter_and_gradients_accumulate():
    m = _model()
    assert m.decoder_weight is m.encoder_weight
    assert m.decoder_weight.data_ptr() == m.encoder_weight.data_ptr()
    names = [n for n, _ in m.named_parameters()]
    assert names.count("encoder_weight") == 1 and not any("decoder" in n for n in names)
    x = torch.randn(8, 16)
    enc = m.encode_train(x, k_top=4, aux=False)
    # gradient through the encoder path only, then through the decoder path only
    enc.vals.sum().backward(retain_graph=True)
    g_enc = m.encoder_weight.grad.clone()
    m.zero_grad()
    m.decode_sparse(enc.idx, enc.vals.detach()).pow(2).sum().backward(retain_graph=True)
    g_dec = m.encoder_weight.grad.clone()
    m.zero_grad()
    (enc.vals.sum() + m.decode_sparse(enc.idx, enc.vals.detach()).pow(2).sum()).backward()
    assert g_enc.abs().sum() > 0 and g_dec.abs().sum() > 0
    assert torch.allclose(m.encoder_weight.grad, g_enc + g_dec, atol=1e-5)


def test_untied_decoder_is_separate():
    m = _model(tied=False)
    assert m.decoder_weight is not m.encoder_weight
    assert m.decoder_weight.data_ptr() != m.encoder_weight.data_ptr()
    assert torch.equal(m.decoder_weight, m.encoder_weight)  # tied init


def test_sparse_decode_equals_dense_decode():
    m = _model(tied=False)
    with torch.no_grad():
        m.decoder_weight_untied.normal_()
    x = torch.randn(30, 16)
    idx, vals = m.encode(x)
    dense = codes_to_dense(idx, vals, m.h)
    assert torch.allclose(m.decode_sparse(idx, vals), m.decode_dense(dense), atol=1e-5)


@pytest.mark.parametrize("sparse_bwd", [True, False])
def test_gather_linear_gradients_match_dense_autograd(sparse_bwd):
    torch.manual_seed(1)
    n, d, h, kk = 12, 10, 40, 7
    x = torch.randn(n, d, requires_grad=True)
    pb = torch.randn(d, requires_grad=True)
    w = torch.randn(h, d, requires_grad=True)
    lb = torch.randn(h, requires_grad=True)
    idx = torch.stack([torch.randperm(h)[:kk] for _ in range(n)])
    idx[:, -1] = idx[:, 0]  # a duplicate index in a row (top-4k and AuxK can overlap)
    g = torch.randn(n, kk)
    with torch.no_grad():
        pre = F.linear(x - pb, w, lb)
    out = _GatherLinear.apply(x, pb, w, lb, idx, pre, sparse_bwd)
    (out * g).sum().backward()
    got = [t.grad.clone() for t in (x, pb, w, lb)]
    for t in (x, pb, w, lb):
        t.grad = None
    ref = F.linear(x - pb, w, lb).gather(1, idx)
    assert torch.allclose(out, ref, atol=1e-6)
    (ref * g).sum().backward()
    for a, t in zip(got, (x, pb, w, lb), strict=True):
        assert torch.allclose(a, t.grad, atol=1e-4)


def test_frozen_input_gets_no_gradient():
    m = _model()
    x = torch.randn(8, 16)
    enc = m.encode_train(x, k_top=8, aux=False)
    m.decode_sparse(enc.idx[:, :4], enc.vals[:, :4]).sum().backward()
    assert x.grad is None and not x.requires_grad
    assert m.pre_bias.grad is not None and m.latent_bias.grad is not None


def test_dead_stats_count_optimiser_steps():
    m = _model(h=8, k=2)
    idx = torch.tensor([[0, 1], [1, 2]])
    vals = torch.tensor([[0.0, 1.0], [0.5, 0.2]])  # latent 0 has value 0: not fired
    m.update_dead_stats(idx, vals)
    assert m.steps_since_fired.tolist() == [1, 0, 0, 1, 1, 1, 1, 1]
    for _ in range(3):
        m.update_dead_stats(torch.tensor([[1, 2]]), torch.tensor([[1.0, 1.0]]))
    assert m.steps_since_fired.tolist() == [4, 0, 0, 4, 4, 4, 4, 4]
    assert m.dead_mask().tolist() == [True, False, False, True, True, True, True, True]


def test_auxk_zero_without_dead_latents_positive_with_some():
    m = _model()
    x = torch.randn(32, 16)
    enc = m.encode_train(x, k_top=16, aux=True, update_stats_k=4)
    assert enc.idx_aux is None  # nothing dead yet
    x_hat = m.decode_sparse(enc.idx[:, :4], enc.vals[:, :4])
    assert float(auxk_loss(None, x - x_hat)) == 0.0

    with torch.no_grad():
        m.steps_since_fired.fill_(100)  # everything dead
    enc = m.encode_train(x, k_top=16, aux=True, update_stats_k=4)
    fired = set(enc.idx[:, :4][enc.vals[:, :4] > 0].tolist())
    assert enc.idx_aux is not None
    assert not fired & set(enc.idx_aux.flatten().tolist())  # fired this step: not dead
    assert enc.idx_aux.shape[1] == min(m.k_aux, int(m.dead_mask().sum()))
    x_hat = m.decode_sparse(enc.idx[:, :4], enc.vals[:, :4])
    e_hat = m.decode_sparse(enc.idx_aux, enc.vals_aux, bias=False)
    loss = auxk_loss(e_hat, x - x_hat)
    assert float(loss.detach()) > 0
    # the residual is detached: AuxK moves only the dead latents' encoder rows and biases,
    # never the top-k latents that made x_hat_k
    m.zero_grad()
    loss.backward()
    aux_set = set(enc.idx_aux.flatten().tolist())
    touched = m.latent_bias.grad.nonzero().flatten().tolist()
    rows = m.encoder_weight.grad.abs().sum(1).nonzero().flatten().tolist()
    assert touched and set(touched) <= aux_set and set(rows) <= aux_set
