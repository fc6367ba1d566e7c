"""CSR training throughput: csrbench's trainer vs a straightforward paper-style loop.

    python bench/train_throughput.py                      # d=384 synthetic, h=4d and 16d
    python bench/train_throughput.py --data emb.npy       # real [n, d] embeddings
    python bench/train_throughput.py --json out.json --repeats 3

The reference loop is written here the way the paper's code (and most SAE code) is:
a per-row `DataLoader` over a `TensorDataset`, dense h-wide codes (TopK scattered into
zeros) decoded with a dense [h, d] matmul, and three forward passes per step (top-k with
AuxK, top-4k, top-k again for the two-view contrastive loss, computed on the dense 2B x 2B
similarity). Ours is `csrbench.methods` (one device tensor, one encoder pass, gathered
sparse decode, sparse encoder backward, one-view contrastive on sparse codes).

Both start from the same weights and see the same batches in the same order (the
reference's DataLoader samples with the trainer's seeded permutations), with the same h,
k, batch, steps and loss weights (AuxK in the paper's form unless --auxk-form residual);
each repeat uses a new seed (data, init, order) for both. Throughput is the median over
repeats, ours and the reference alternating, each run in its own subprocess; samples per
CPU-second is reported too, as it is steadier than wall time on a shared machine.
Reconstruction is the top-k MSE on all rows after training, computed by the same function
for both. Peak memory comes from one extra run per loop (--memory-runs): resident memory
polled during training with heap blocks served by mmap (on CUDA: the allocator's peak).

Use --threads 1 on a machine whose cores other jobs also use: OpenMP barriers in many
small ops stall whenever another process holds the other core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n: int, d: int, seed: int, path: str | None) -> np.ndarray:
    """Real embeddings from `path`, else sentence-embedding-like synthetic rows.

    Synthetic: a 64-dim latent through a random map plus noise, L2-normalised, so that a
    sparse code has structure to find (pure noise would make every method equally bad).
    """
    if path:
        x = np.load(path, mmap_mode="r")[:n]
        return np.ascontiguousarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    s = rng.standard_t(df=3, size=(n, 64)) * (rng.random((n, 64)) < 0.25)
    x = s @ rng.normal(size=(64, d)) + 0.3 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


# ---- the reference: how the paper's code trains ---------------------------------------


class ReferenceCSR(nn.Module):
    """Paper-style TopK SAE: dense codes, dense decode, stats updated per forward call."""

    def __init__(self, d: int, h: int, k_aux: int, dead_threshold_calls: int) -> None:
        super().__init__()
        self.pre_bias = nn.Parameter(torch.zeros(d))
        self.encoder = nn.Linear(d, h, bias=False)
        self.latent_bias = nn.Parameter(torch.zeros(h))
        self.k_aux = k_aux
        self.dead_threshold = dead_threshold_calls
        self.register_buffer("stats_last_nonzero", torch.zeros(h, dtype=torch.long))

    def forward(self, x: torch.Tensor, k: int):
        pre = F.linear(x - self.pre_bias, self.encoder.weight, self.latent_bias)
        top = torch.topk(pre, k, dim=-1)
        z = F.relu(torch.zeros_like(pre).scatter(-1, top.indices, top.values))
        with torch.no_grad():
            fired = torch.zeros_like(self.stats_last_nonzero)
            fired.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-5).long().reshape(-1))
            self.stats_last_nonzero *= 1 - fired.clamp(max=1)
            self.stats_last_nonzero += 1
        masked = pre * (self.stats_last_nonzero > self.dead_threshold)
        aux = torch.topk(masked, self.k_aux, dim=-1)
        z_aux = F.relu(torch.zeros_like(pre).scatter(-1, aux.indices, aux.values))
        w_dec = self.encoder.weight.t()
        recons = F.linear(z, w_dec) + self.pre_bias
        recons_aux = F.linear(z_aux, w_dec) + self.pre_bias
        return z, recons, recons_aux


def _normalized_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mu = target.mean(dim=0)
    return F.mse_loss(recon, target) / F.mse_loss(mu[None].broadcast_to(target.shape), target)


def _two_view_cl(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
    n = z1.shape[0]
    idx = torch.arange(n, device=z1.device).repeat(2)
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = torch.exp(z @ z.t() / t)
    pos_mask = idx[:, None] == idx[None, :]
    pos_mask.fill_diagonal_(False)
    neg_mask = idx[:, None] != idx[None, :]
    pos, neg = (sim * pos_mask).sum(1), (sim * neg_mask).sum(1)
    return -torch.log(pos / (pos + neg)).mean()


class SeededPermutations(torch.utils.data.Sampler[int]):
    """One `torch.randperm` per epoch from a generator seeded like csrbench's trainer.

    Both loops then see the very same batches in the same order, so their final
    reconstruction errors differ by floating-point noise only; with independent shuffles
    the batch order alone moved the final MSE by about 0.4% here.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.g = torch.Generator().manual_seed(int(seed))

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.g).tolist())

    def __len__(self) -> int:
        return self.n


def train_reference(
    x: np.ndarray, init: dict[str, torch.Tensor], a: argparse.Namespace, dev: torch.device
) -> dict:
    d = x.shape[1]
    h = a.h_mult * d
    model = ReferenceCSR(d, h, min(a.k_aux, h), 3 * a.dead_threshold)
    with torch.no_grad():
        model.pre_bias.copy_(init["pre_bias"])
        model.encoder.weight.copy_(init["encoder_weight"])
        model.latent_bias.copy_(init["latent_bias"])
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, eps=6.25e-10)
    loader = DataLoader(
        TensorDataset(torch.from_numpy(x)),
        batch_size=a.batch,
        sampler=SeededPermutations(len(x), a.seed),
        drop_last=True,
        num_workers=0,
    )
    rows = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.epochs):
        for (xb_cpu,) in loader:
            xb = xb_cpu.to(dev, non_blocking=True)
            z1, rec1, aux1 = model(xb, a.k)
            _, rec4, _ = model(xb, 4 * a.k)
            loss_k = F.mse_loss(rec1, xb)
            loss_4k = F.mse_loss(rec4, xb)
            target = xb - rec1.detach() + model.pre_bias.detach()
            loss_aux = _normalized_mse(aux1, target).nan_to_num(0)
            z2, _, _ = model(xb, a.k)
            loss_cl = _two_view_cl(z1, z2, 0.2)
            loss = loss_k + loss_4k / 8 + loss_aux / 32 + a.gamma * loss_cl
            opt.zero_grad()
            loss.backward()
            opt.step()
            rows += len(xb)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    state = {
        "pre_bias": model.pre_bias.detach().cpu(),
        "encoder_weight": model.encoder.weight.detach().cpu(),
        "latent_bias": model.latent_bias.detach().cpu(),
    }
    return {"rows": rows, "wall_s": wall, "cpu_s": cpu, "state": state}


# ---- ours ------------------------------------------------------------------------------


def train_ours(x: np.ndarray, init: dict[str, torch.Tensor], a: argparse.Namespace, dev) -> dict:
    from csrbench.methods import CSRObjective, method_defaults, prepare_data
    from csrbench.models.csr import CSR
    from csrbench.store import FieldEmbeddings, SplitEmbeddings
    from csrbench.train import TrainConfig, train

    d = x.shape[1]
    h = a.h_mult * d
    split = SplitEmbeddings(
        {"image": FieldEmbeddings("image", x, np.arange(len(x)).astype(str), None)}, None, {}
    )
    data = prepare_data(split, None, "image", dev)
    p = {
        **method_defaults("csr", "image"),
        "gamma": a.gamma,
        "dead_threshold": a.dead_threshold,
        "auxk_form": a.auxk_form,
    }
    model = CSR(d, h, a.k, k_aux=a.k_aux, dead_threshold=a.dead_threshold)
    model.load_state_dict({**model.state_dict(), **init})
    model.to(dev).train()
    obj = CSRObjective(model, data, p, "csr", a.k)
    cfg = TrainConfig(
        batch_size=a.batch, epochs=a.epochs, lr=a.lr, seed=a.seed, progress=False, amp=a.amp
    )
    c0 = time.process_time()
    res = train(obj, data.n_units, cfg, dev)
    cpu = time.process_time() - c0
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if k in init}
    rows, wall = res.summary["samples_seen"], res.summary["wall_s"]
    return {"rows": rows, "wall_s": wall, "cpu_s": cpu, "state": state}


@torch.no_grad()
def recon_mse(
    x: np.ndarray, state: dict[str, torch.Tensor], k: int, h: int, dev: torch.device
) -> float:
    """Top-k reconstruction MSE on all rows, one function for both models."""
    from csrbench.models.csr import CSR

    m = CSR(x.shape[1], h, k)
    m.load_state_dict({**m.state_dict(), **state})
    m.to(dev)
    xt = torch.from_numpy(x)
    err = 0.0
    for s in range(0, len(xt), 8192):
        xb = xt[s : s + 8192].to(dev)
        err += float(((m(xb) - xb) ** 2).sum())
    return err / xt.numel()


def initial_state(d: int, h: int, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    lin = nn.Linear(d, h, bias=False)  # the paper's (nn.Linear) init
    return {
        "pre_bias": torch.zeros(d),
        "encoder_weight": lin.weight.detach().clone(),
        "latent_bias": torch.zeros(h),
    }


def worker(a: argparse.Namespace) -> None:
    """One training run in this process; prints one JSON line."""
    from csrbench.timing import PeakRSS  # the worker runs with src/ on the path

    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(
        a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    x = make_data(a.n, a.d, a.seed, a.data)
    h = a.h_mult * x.shape[1]
    init = initial_state(x.shape[1], h, a.seed)
    run = train_reference if a.worker == "ref" else train_ours
    # Warm up on a tiny problem first: the first autograd / optimiser / thread-pool use
    # pages in a few hundred MB of library code and pools, the same for both loops, which
    # would otherwise swamp the difference that h makes.
    tiny = argparse.Namespace(**{**vars(a), "h_mult": 1, "epochs": 1})
    run(x[: 2 * a.batch], initial_state(x.shape[1], x.shape[1], a.seed), tiny, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    with PeakRSS(interval=0.002) as mem:  # ru_maxrss would include data generation
        out = run(x, init, a, dev)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "impl": a.worker,
        "h": h,
        "rows": out["rows"],
        "wall_s": out["wall_s"],
        "samples_per_s": out["rows"] / out["wall_s"],
        "samples_per_cpu_s": out["rows"] / out["cpu_s"],
        "threads": torch.get_num_threads(),
        "recon_mse": recon_mse(x, out["state"], a.k, h, dev),
        "init_recon_mse": recon_mse(x, init, a.k, h, dev),
        "peak_rss_mb": peak_rss / 1024,
        "train_rss_increase_mb": mem.mb,
        "device": str(dev),
    }
    if dev.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    print(json.dumps(result))


def run_child(args: list[str], memory: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([_src(), os.environ.get("PYTHONPATH", "")])}
    if memory:
        # glibc keeps freed heap blocks of a few MB (and grows the heap with every new
        # size), so RSS climbs step after step without any live tensor behind it; served
        # by mmap, freed blocks go back at once and RSS tracks live memory.
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"worker failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _src() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="an .npy [n, d] embedding matrix (default: synthetic d=384)")
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--k-aux", type=int, default=512)
    ap.add_argument("--dead-threshold", type=int, default=10, help="in optimiser steps")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument(
        "--auxk-form",
        default="paper",
        choices=["paper", "residual"],
        help="ours' AuxK: 'paper' = the reference's exact loss (default, like for like); "
        "'residual' = csrbench's default (zero when nothing is dead, no pre-bias gradient)",
    )
    ap.add_argument("--h-mults", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--amp", action="store_true", help="ours with bf16 autocast on CUDA")
    ap.add_argument("--skip-ref", action="store_true", help="ours only (e.g. on a GPU)")
    ap.add_argument(
        "--memory-runs",
        type=int,
        default=1,
        choices=[0, 1],
        help="one extra run per loop with heap blocks served by mmap, for peak memory",
    )
    ap.add_argument("--memory-epochs", type=int, default=1)
    ap.add_argument("--json", help="write all runs and the summary here")
    ap.add_argument("--worker", choices=["ours", "ref"], help=argparse.SUPPRESS)
    ap.add_argument("--h-mult", type=int, default=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a)
        return

    common = [
        "--n", str(a.n), "--d", str(a.d), "--k", str(a.k), "--k-aux", str(a.k_aux),
        "--dead-threshold", str(a.dead_threshold), "--batch", str(a.batch),
        "--epochs", str(a.epochs), "--lr", str(a.lr), "--gamma", str(a.gamma),
        "--seed", str(a.seed), "--device", a.device, "--threads", str(a.threads),
        "--auxk-form", a.auxk_form, *(["--amp"] if a.amp else []),
    ]  # fmt: skip
    if a.data:
        common += ["--data", a.data]
    impls = ["ours"] if a.skip_ref else ["ours", "ref"]
    runs: list[dict[str, Any]] = []
    summary = []
    print(
        f"CSR training, n={a.n} d={a.d} k={a.k} k_aux={a.k_aux} batch={a.batch} "
        f"epochs={a.epochs} gamma={a.gamma} auxk={a.auxk_form} device={a.device} "
        f"threads={a.threads or torch.get_num_threads()} load average={os.getloadavg()}"
    )
    for hm in a.h_mults:
        by: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
        for r in range(a.repeats):
            for impl in impls if r % 2 == 0 else impls[::-1]:  # alternate who goes first
                args = [*common, "--h-mult", str(hm), "--worker", impl]
                args[args.index("--seed") + 1] = str(a.seed + r)  # new init and order per repeat
                res = run_child(args)
                res["repeat"] = r
                by[impl].append(res)
                runs.append(res)
        mem: dict[str, dict[str, Any]] = {}
        if a.memory_runs:
            for impl in impls:
                mem_args = [*common, "--h-mult", str(hm), "--worker", impl]
                mem_args[mem_args.index("--epochs") + 1] = str(a.memory_epochs)
                mem[impl] = run_child(mem_args, memory=True)
                mem[impl]["memory_run"] = True
                runs.append(mem[impl])
        row: dict[str, Any] = {"h": (by[impls[0]] or [mem.get(impls[0], {})])[0].get("h")}
        for impl in impls:
            rs = by[impl]
            if rs:
                row[f"{impl}_samples_per_s"] = statistics.median(x["samples_per_s"] for x in rs)
                row[f"{impl}_samples_per_cpu_s"] = statistics.median(
                    x["samples_per_cpu_s"] for x in rs
                )
                row[f"{impl}_recon_mse"] = statistics.median(x["recon_mse"] for x in rs)
                row["init_recon_mse"] = rs[0]["init_recon_mse"]
                if "peak_cuda_mb" in rs[0]:  # exact (allocator) on CUDA: no memory run needed
                    row[f"{impl}_peak_cuda_mb"] = max(x["peak_cuda_mb"] for x in rs)
            if impl in mem:
                row[f"{impl}_train_peak_mb"] = mem[impl]["train_rss_increase_mb"]
                if "peak_cuda_mb" in mem[impl]:
                    row[f"{impl}_peak_cuda_mb"] = mem[impl]["peak_cuda_mb"]
        if by.get("ref"):
            row["speedup"] = row["ours_samples_per_s"] / row["ref_samples_per_s"]
            row["speedup_cpu_time"] = row["ours_samples_per_cpu_s"] / row["ref_samples_per_cpu_s"]
        summary.append(row)
        print(json.dumps(row))
    print()
    cols = [
        ("h", "h", "{:>6}"),
        ("ours samples/s", "ours_samples_per_s", "{:>15.0f}"),
        ("ref samples/s", "ref_samples_per_s", "{:>14.0f}"),
        ("speedup", "speedup", "{:>8.2f}"),
        ("speedup(cpu-time)", "speedup_cpu_time", "{:>18.2f}"),
        ("ours MSE", "ours_recon_mse", "{:>10.3e}"),
        ("ref MSE", "ref_recon_mse", "{:>10.3e}"),
        ("init MSE", "init_recon_mse", "{:>10.3e}"),
        ("ours train MB", "ours_train_peak_mb", "{:>14.0f}"),
        ("ref train MB", "ref_train_peak_mb", "{:>13.0f}"),
        ("ours CUDA MB", "ours_peak_cuda_mb", "{:>13.0f}"),
        ("ref CUDA MB", "ref_peak_cuda_mb", "{:>12.0f}"),
    ]
    print(" ".join(f"{name:>{len(fmt.format(1.0))}}" for name, _, fmt in cols))
    for row in summary:
        print(" ".join(fmt.format(row.get(key, float("nan"))) for _, key, fmt in cols))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"args": vars(a), "summary": summary, "runs": runs}, fh, indent=2)


if __name__ == "__main__":
    main()
