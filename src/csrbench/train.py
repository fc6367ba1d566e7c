"""The training loop shared by every trained method (CSR family, MRL).

Frozen embeddings are small next to a backbone, so the whole training matrix lives as
one tensor on the training device and a step is an index into it: no per-row
DataLoader, no collate, no host-to-device copy per step. Each epoch draws one
`torch.randperm` from a seeded generator, so runs are reproducible bit for bit on CPU
(on CUDA, atomics in index_add / embedding_bag backward can change the last bits).

A method plugs in an `Objective`: it owns the model, turns a batch of unit ids (rows of a
single field, or rows of the relevance pairs) into a dict of loss terms with the total
under "loss", and may update state after the optimiser step. Per-step log rows keep the
loss terms as tensors and copy them to the host every `sync_every` steps, so a GPU run
is not synchronised on every step; samples/s of a row is the rate over that window.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from csrbench.atomic import atomic_path

if TYPE_CHECKING:
    from csrbench.methods.params import TrainParams


class Objective(Protocol):
    """What the trainer needs from a method."""

    def parameters(self) -> Iterable[nn.Parameter]: ...

    def step(self, ids: Tensor, step: int, total_steps: int) -> dict[str, Tensor | float]:
        """Loss terms for the batch of unit ids; the total under "loss"."""
        ...

    def after_step(self) -> dict[str, Tensor | float]:
        """Called after each optimiser step; extra values to log (e.g. dead fraction)."""
        ...


@dataclass
class TrainConfig:
    batch_size: int
    epochs: int = 10
    lr: float = 4e-4
    adam_eps: float = 6.25e-10
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    seed: int = 0
    amp: bool | str = "auto"  # "auto" or true: bf16 autocast on CUDA; ignored on CPU
    progress: bool = True
    max_steps: int | None = None
    sync_every: int = 50
    desc: str = "train"
    drop_last: bool = True

    @classmethod
    def from_params(cls, p: TrainParams, seed: int, desc: str) -> TrainConfig:
        """The loop settings of a method's typed parameters (already checked and typed)."""
        return cls(
            batch_size=p.batch_size,
            epochs=p.epochs,
            lr=p.lr,
            adam_eps=p.adam_eps,
            betas=p.betas,
            weight_decay=p.weight_decay,
            seed=seed,
            amp=p.amp,
            progress=p.progress,
            max_steps=p.max_steps,
            sync_every=p.sync_every,
            desc=desc,
            drop_last=p.drop_last,
        )


@dataclass
class TrainResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def write_log(self, path: str | os.PathLike[str]) -> None:
        write_log(self.rows, path)


def steps_per_epoch(n_units: int, batch_size: int, drop_last: bool = True) -> int:
    """Full batches only (a tiny last batch makes a noisy contrastive step), at least one."""
    if n_units <= batch_size:
        return 1
    return n_units // batch_size if drop_last else math.ceil(n_units / batch_size)


def train(
    objective: Objective, n_units: int, cfg: TrainConfig, device: torch.device
) -> TrainResult:
    """Run Adam over `n_units` training units for `cfg.epochs` epochs (or `cfg.max_steps`)."""
    if n_units <= 0:
        raise ValueError("no training data: the split has no rows (or no relevance pairs)")
    params = [p for p in objective.parameters() if p.requires_grad]
    # fused: one kernel per parameter instead of a dozen elementwise passes; on CPU the
    # unfused update of a 5120 x 1280 encoder was a sixth of a CSR step
    opt = torch.optim.Adam(
        params,
        lr=cfg.lr,
        eps=cfg.adam_eps,
        betas=tuple(cfg.betas),
        weight_decay=cfg.weight_decay,
        fused=True,
    )
    use_amp = device.type == "cuda" and cfg.amp not in (False, "false", "off")
    batch = min(cfg.batch_size, n_units)
    spe = steps_per_epoch(n_units, batch, cfg.drop_last)
    total = spe * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    bar = tqdm(total=total, desc=cfg.desc, disable=not cfg.progress, mininterval=1.0, leave=False)

    rows: list[dict[str, Any]] = []
    pending: list[tuple[int, int, int, dict[str, Tensor | float]]] = []
    t0 = time.perf_counter()
    window_start, window_samples = t0, 0

    def flush() -> None:
        nonlocal window_start, window_samples
        if not pending:
            return
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        rate = window_samples / max(now - window_start, 1e-9)
        keys = sorted({k for *_, v in pending for k, x in v.items() if isinstance(x, Tensor)})
        stacked = {}
        for key in keys:
            vals = [v[key] for *_, v in pending]
            stacked[key] = (
                torch.stack([x.detach().float().reshape(()) for x in vals]).cpu().tolist()
            )
        for i, (s, ep, n_s, v) in enumerate(pending):
            row: dict[str, Any] = {"step": s, "epoch": ep, "samples": n_s}
            for key, x in v.items():
                row[key] = stacked[key][i] if key in stacked else x
            row["samples_per_s"] = rate
            row["wall_s"] = now - t0
            rows.append(row)
        bar.set_postfix({k: f"{rows[-1][k]:.4g}" for k in ("loss", "dead_frac") if k in rows[-1]})
        pending.clear()
        window_start, window_samples = now, 0

    step = 0
    epoch = 0
    while step < total:
        perm = torch.randperm(n_units, generator=gen).to(device)
        for s in range(spe):
            if step >= total:
                break
            ids = perm[s * batch : (s + 1) * batch]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                out = objective.step(ids, step, total)
            loss = out["loss"]
            assert isinstance(loss, Tensor)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            extra = objective.after_step()
            logged = {key: v.detach() if isinstance(v, Tensor) else v for key, v in out.items()}
            pending.append((step, epoch, len(ids), {**logged, **extra}))
            window_samples += len(ids)
            step += 1
            bar.update(1)
            if len(pending) >= cfg.sync_every:
                flush()
        epoch += 1
    flush()
    bar.close()
    wall = time.perf_counter() - t0
    last = rows[-1] if rows else {}
    summary = {
        "steps": step,
        "epochs": epoch,
        "steps_per_epoch": spe,
        "batch_size": batch,
        "n_units": n_units,
        "samples_seen": sum(r["samples"] for r in rows),
        "wall_s": wall,
        "samples_per_s": sum(r["samples"] for r in rows) / max(wall, 1e-9),
        "device": str(device),
        "amp_bf16": use_amp,
        "final": {k: v for k, v in last.items() if k not in ("step", "epoch", "samples")},
    }
    if "dead_frac" in last:
        summary["dead_frac_end"] = last["dead_frac"]
    return TrainResult(rows=rows, summary=summary)


def write_log(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write per-step rows as a tab-separated table with LF line ends.

    Columns are the union of the rows' keys in first-seen order; written under a temporary
    name and renamed so that a killed job never leaves a half table.
    """
    path = Path(path)
    cols: list[str] = []
    for r in rows:
        for key in r:
            if key not in cols:
                cols.append(key)
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(
            f, fieldnames=cols, delimiter="\t", lineterminator="\n", extrasaction="ignore"
        )
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v
