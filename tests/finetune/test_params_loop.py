"""The fine-tune recipe's checks and the shared loop (batches, checkpoint choice,
atomic output), on a toy task that needs no backbone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from csrbench.finetune.loop import BACKBONE_JSON, STEPS_TSV, SUMMARY_JSON, batches, run_finetune
from csrbench.finetune.params import FinetuneError, FinetuneParams


def test_checkpoints_must_increase_end_at_one_and_fall_on_distinct_steps() -> None:
    assert FinetuneParams(steps=8, checkpoints=(0.25, 0.5, 1.0)).checkpoint_steps == [2, 4, 8]
    for bad in [(0.5, 0.25, 1.0), (0.25, 0.5), (0.0, 1.0), (0.5, 0.5, 1.0)]:
        with pytest.raises(FinetuneError, match="checkpoints"):
            FinetuneParams(checkpoints=bad)
    with pytest.raises(FinetuneError, match="same steps"):
        FinetuneParams(steps=2, checkpoints=(0.1, 0.2, 1.0))
    with pytest.raises(FinetuneError, match="in-batch negatives"):
        FinetuneParams(batch_size=1)
    with pytest.raises(FinetuneError, match="lr"):
        FinetuneParams(lr=0.0)


def test_nesting_holds_every_budget_and_the_width() -> None:
    p = FinetuneParams()
    assert p.nesting_for(384, [8, 24, 32, 1000]) == [8, 16, 24, 32, 64, 128, 256, 384]
    assert FinetuneParams(nesting=(4, 500)).nesting_for(64, [8]) == [4, 8, 64]


def test_from_config_round_trips_and_names_unknown_keys() -> None:
    p = FinetuneParams.from_config({"steps": 6, "checkpoints": [0.5, 1.0], "nesting": None})
    assert p.checkpoints == (0.5, 1.0) and FinetuneParams.from_config(p.as_dict()) == p
    with pytest.raises(FinetuneError, match="stepz"):
        FinetuneParams.from_config({"stepz": 3})


def test_batches_cover_epochs_without_repeats_and_drop_the_tail() -> None:
    got = list(batches(10, 4, 5, np.random.default_rng(0)))
    assert len(got) == 5 and all(len(b) == 4 for b in got)
    for epoch in (got[0:2], got[2:4]):  # two full batches per epoch of 10 rows
        rows = np.concatenate(epoch)
        assert len(set(rows.tolist())) == 8
    with pytest.raises(ValueError, match="lower batch_size"):
        next(batches(3, 4, 1, np.random.default_rng(0)))


class ToyTask:
    """Fits w to a target; validation loss follows a script, to test the choice."""

    def __init__(self, val_losses: list[float], nan_at: int | None = None) -> None:
        self.w = torch.nn.Parameter(torch.zeros(4))
        self.n_train, self.nesting = 16, [2, 4]
        self.val_losses, self.nan_at, self.calls = list(val_losses), nan_at, 0

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.w]

    def train_loss(self, rows: np.ndarray) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.nan_at:
            return self.w.sum() * float("nan")
        return ((self.w - 1.0) ** 2).sum()

    def val_loss(self) -> float:
        return self.val_losses.pop(0)

    def save(self, out: Path, ref: str) -> dict[str, Any]:
        out.mkdir(parents=True)
        torch.save(self.w.detach(), out / "w.pt")
        return {"type": "toy", "model": ref}


def test_validation_chooses_the_checkpoint_and_the_output_is_complete(tmp_path: Path) -> None:
    params = FinetuneParams(steps=8, batch_size=4, lr=0.1, checkpoints=(0.25, 0.5, 1.0))
    out = tmp_path / "ft" / "seed0"
    summary = run_finetune(ToyTask([3.0, 1.0, 2.0]), params, out, seed=0, provenance={})
    assert summary["chosen_step"] == 4  # the lowest validation loss, not the last step
    assert json.loads((out / BACKBONE_JSON).read_text()) == {
        "type": "toy",
        "model": str(out / "step4"),
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["step2", "step4", "step8", BACKBONE_JSON, SUMMARY_JSON, STEPS_TSV]
    )
    log = (out / STEPS_TSV).read_text().splitlines()
    assert log[0] == "step\tloss\tseconds" and len(log) == 9
    losses = [float(line.split("\t")[1]) for line in log[1:]]
    assert losses[-1] < losses[0]  # it trained
    seconds = [c["seconds"] for c in summary["checkpoints"]]
    assert seconds == sorted(seconds) and summary["fit_seconds"] == pytest.approx(seconds[-1])
    # a tie goes to the later checkpoint (more training for the same validation loss)
    again = run_finetune(ToyTask([1.0, 1.0, 1.0]), params, tmp_path / "tie", 0, {})
    assert again["chosen_step"] == 8


def test_a_diverging_run_names_lr_and_leaves_no_output(tmp_path: Path) -> None:
    params = FinetuneParams(steps=4, batch_size=4, checkpoints=(1.0,))
    with pytest.raises(FloatingPointError, match=r"finetune\.lr"):
        run_finetune(ToyTask([1.0], nan_at=3), params, tmp_path / "out", 0, {})
    assert list(tmp_path.iterdir()) == []  # no half-written folder, no temporary one
