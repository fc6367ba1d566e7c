"""The fine-tune loop shared by both modalities: batches, steps, checkpoints, timing.

A modality supplies a `FinetuneTask` (its model, its nested loss on a batch of training
rows, its loss on a fixed validation sample, how a checkpoint is saved and what backbone
config entry loads it back). The loop owns everything else, so text and image runs are
timed and checkpointed the same way: `seconds` counts optimiser steps only (batch
assembly, forward, backward, update), not validation or saving, because it is compared
with CSR's fit time, which counts its steps the same way.

Validation picks the checkpoint mrl-ft is evaluated at: the one with the lowest nested
loss on the validation sample (the later one on a tie), so the test split never decides
how long the backbone trains.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from csrbench.atomic import atomic_dir, write_json
from csrbench.devices import hardware_info
from csrbench.finetune.params import FinetuneParams

BACKBONE_JSON = "backbone.json"
SUMMARY_JSON = "summary.json"
STEPS_TSV = "train.tsv"


class FinetuneTask(Protocol):
    """One modality's side of the fine-tune."""

    n_train: int  # training rows (pairs or labelled images) batches are drawn from
    nesting: list[int]

    def parameters(self) -> list[torch.nn.Parameter]: ...

    def train_loss(self, rows: np.ndarray) -> Tensor:
        """The nested loss of one batch of training rows (model in train mode)."""
        ...

    def val_loss(self) -> float:
        """The nested loss on the fixed validation sample (no gradients)."""
        ...

    def save(self, out: Path, ref: str) -> dict[str, Any]:
        """Write the checkpoint into `out`; return the backbone config entry that loads
        it, naming it by `ref` (its final path, relative to the working directory)."""
        ...


def checkpoint_name(step: int) -> str:
    return f"step{step}"


def batches(n: int, batch_size: int, steps: int, rng: np.random.Generator):
    """`steps` batches of row indices: epochs of fresh permutations, the incomplete tail
    of each dropped (in-batch negatives want full batches)."""
    if n < batch_size:
        raise ValueError(
            f"the training split has {n} rows, fewer than finetune.batch_size = {batch_size}: "
            "lower batch_size"
        )
    per_epoch = n // batch_size
    done = 0
    while done < steps:
        order = rng.permutation(n)
        for b in range(min(per_epoch, steps - done)):
            yield order[b * batch_size : (b + 1) * batch_size]
        done += min(per_epoch, steps - done)


def run_finetune(
    task: FinetuneTask,
    params: FinetuneParams,
    out_dir: str | Path,
    seed: int,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Train, checkpoint at `params.checkpoint_steps`, and commit `out_dir` atomically:
    one folder per checkpoint, `backbone.json` (the validation-chosen checkpoint as a
    backbone config entry), `summary.json` and the per-step `train.tsv`."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(task.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    marks = set(params.checkpoint_steps)
    checkpoints: list[dict[str, Any]] = []
    rows: list[tuple[int, float, float]] = []
    seconds = 0.0
    with atomic_dir(out_dir) as tmp:
        for step, idx in enumerate(batches(task.n_train, params.batch_size, params.steps, rng), 1):
            t0 = time.perf_counter()
            loss = task.train_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seconds += time.perf_counter() - t0
            value = float(loss.detach())
            if not np.isfinite(value):
                raise FloatingPointError(
                    f"fine-tune loss is {value} at step {step}: lower finetune.lr ({params.lr})"
                )
            rows.append((step, value, seconds))
            if step in marks:
                name = checkpoint_name(step)
                entry = task.save(tmp / name, str(out_dir / name))
                checkpoints.append(
                    {
                        "step": step,
                        "fraction": step / params.steps,
                        "seconds": seconds,
                        "val_loss": task.val_loss(),
                        "backbone": entry,
                    }
                )
        best = min(checkpoints, key=lambda c: (c["val_loss"], -c["step"]))
        summary = {
            "seed": seed,
            "params": params.as_dict(),
            "nesting": task.nesting,
            "n_train": task.n_train,
            "checkpoints": checkpoints,
            "chosen_step": best["step"],
            "fit_seconds": seconds,
            "threads": torch.get_num_threads(),
            "provenance": provenance,
            "hardware": hardware_info(),
        }
        write_json(tmp / BACKBONE_JSON, best["backbone"])
        write_json(tmp / SUMMARY_JSON, summary)
        with open(tmp / STEPS_TSV, "w", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t")
            writer.writerow(["step", "loss", "seconds"])
            writer.writerows((s, f"{v:.6g}", f"{t:.4f}") for s, v, t in rows)
    return summary
