"""The trainer: seeded determinism, logs, csr(gamma=0) == sae, csr-v2's k schedule."""

from __future__ import annotations

import csv
import itertools

import numpy as np
import pytest
import torch

from csrbench.methods import build_params, fit
from csrbench.store import FieldEmbeddings, SplitEmbeddings
from csrbench.train import TrainConfig, steps_per_epoch, train, write_log

pytestmark = pytest.mark.usefixtures("one_torch_thread")


FAST = {"h": 96, "batch_size": 64, "epochs": 2, "progress": False, "k_aux": 16}


def _split(n: int = 512, d: int = 24, seed: int = 0, labels: bool = False) -> SplitEmbeddings:
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 6)) @ rng.normal(size=(6, d)) + 0.1 * rng.normal(size=(n, d))).astype(
        np.float32
    )
    lab = rng.integers(0, 4, n) if labels else None
    ids = np.arange(n).astype(str)
    return SplitEmbeddings({"image": FieldEmbeddings("image", x, ids, lab)}, None, {})


def _weights(f) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in f.state_tensors().items()}


def test_same_seed_same_model_and_log_different_seed_differs():
    split = _split()
    a = fit("csr", 4, split, FAST, device="cpu", seed=3)
    b = fit("csr", 4, split, FAST, device="cpu", seed=3)
    c = fit("csr", 4, split, FAST, device="cpu", seed=4)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["encoder_weight"], wc["encoder_weight"])
    assert [r["loss"] for r in a.log] == [r["loss"] for r in b.log]


def test_csr_with_gamma_zero_is_sae():
    split = _split()
    csr = fit("csr", 4, split, {**FAST, "gamma": 0.0}, device="cpu", seed=1)
    sae = fit("sae", 4, split, FAST, device="cpu", seed=1)
    wc, ws = _weights(csr), _weights(sae)
    assert all(torch.equal(wc[k], ws[k]) for k in wc)
    with pytest.raises(ValueError, match="gamma"):
        fit("sae", 4, split, {**FAST, "gamma": 0.5}, device="cpu")


def test_log_rows_and_summary_and_reconstruction_improves():
    split = _split()
    f = fit("csr", 4, split, {**FAST, "epochs": 6, "lr": 2e-3}, device="cpu", seed=0)
    spe = steps_per_epoch(512, 64)
    assert len(f.log) == 6 * spe == f.summary["steps"]
    row = f.log[-1]
    for key in (
        "step",
        "epoch",
        "loss",
        "loss_k",
        "loss_multi_k",
        "loss_aux",
        "loss_contrastive",
        "dead_frac",
        "k",
        "samples_per_s",
        "wall_s",
    ):
        assert key in row, key
    assert row["epoch"] == 5 and row["k"] == 4
    assert f.log[-1]["loss_k"] < 0.7 * f.log[0]["loss_k"]
    s = f.summary
    assert s["samples_per_s"] > 0 and s["wall_s"] > 0 and 0.0 <= s["dead_frac_end"] <= 1.0


def test_write_log_is_tab_separated_with_lf_line_ends(tmp_path):
    rows = [{"step": 0, "loss": 1.5}, {"step": 1, "loss": 1.25, "extra": "x"}]
    path = tmp_path / "train.tsv"
    write_log(rows, path)
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.count(b"\n") == 3
    with open(path, newline="") as fh:
        got = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["step"] for r in got] == ["0", "1"] and got[1]["extra"] == "x"
    assert float(got[1]["loss"]) == 1.25 and got[0]["extra"] == ""
    assert [p.name for p in tmp_path.iterdir()] == ["train.tsv"]


def test_csr_v2_anneals_k_linearly_over_70_percent_of_steps():
    split = _split(labels=True)
    f = fit("csr-v2", 4, split, {**FAST, "epochs": 10, "k_init": 24}, device="cpu", seed=0)
    ks = [r["k"] for r in f.log]
    total = len(ks)
    assert ks[0] == 24 and ks[-1] == 4
    assert all(a >= b for a, b in itertools.pairwise(ks))
    first_k = ks.index(4)
    assert abs(first_k - 0.7 * total) <= 2
    assert f.params.positives == "labels"


def test_max_steps_and_one_tensor_indexing():
    calls = []

    class Obj:
        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(1))

        def parameters(self):
            return [self.w]

        def step(self, ids, step, total):
            calls.append(ids.clone())
            return {"loss": (self.w - 1).pow(2).sum()}

        def after_step(self):
            return {}

    cfg = TrainConfig(batch_size=10, epochs=5, lr=0.1, seed=0, progress=False, max_steps=7)
    res = train(Obj(), 25, cfg, torch.device("cpu"))
    assert res.summary["steps"] == 7 and len(calls) == 7
    epoch0 = torch.cat(calls[:2])
    assert len(set(epoch0.tolist())) == 20  # a permutation: no row twice in an epoch


def test_train_config_takes_the_typed_params_as_they_are():
    p = build_params(
        "mrl",
        "image",
        {"betas": [0.8, 0.9], "amp": "false", "progress": "off", "max_steps": 3, "lr": "1e-2"},
    )
    cfg = TrainConfig.from_params(p, seed=7, desc="mrl")
    assert cfg.batch_size == 4096 and cfg.epochs == 10 and cfg.lr == 0.01
    assert cfg.adam_eps == 1e-8 and cfg.betas == (0.8, 0.9) and cfg.weight_decay == 0.0
    assert cfg.amp is False and cfg.progress is False and cfg.drop_last is True
    assert cfg.max_steps == 3 and cfg.sync_every == 50 and cfg.seed == 7 and cfg.desc == "mrl"
