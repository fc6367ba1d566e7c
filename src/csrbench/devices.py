"""Device and mixed-precision selection, and the hardware description every result carries.

Numbers from this benchmark (throughput, latency, even the last digits of an embedding)
depend on the machine, so every artefact records where it was made: `hardware_info()`
goes into embedding provenance and into the benchmark JSONs of later stages.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
from collections.abc import Iterator
from typing import Any

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn a config value ("auto", "cpu", "cuda", "cuda:N") into a torch device.

    "auto" picks the first GPU when one is visible, else the CPU, so the same config runs
    on a laptop and on a cluster node. Asking for CUDA where there is none is an error
    rather than a silent fallback: a paper-scale run on CPU would take days.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = str(device)
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device {device!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} was requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                "use device: auto or cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} was requested but only {torch.cuda.device_count()} "
                "GPU(s) are visible"
            )
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """The autocast dtype for `amp` on `device`, or None for full float32.

    Mixed precision only pays on GPUs; on CPU `amp` is ignored (and provenance says so)
    because CPU autocast is slower than float32 for these models on most CPUs. bfloat16
    where the GPU supports it (no overflow risk), else float16.
    """
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """An autocast context for `dtype`, or a no-op context when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def dtype_name(dtype: torch.dtype | None) -> str:
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _physical_cores() -> int | None:
    with contextlib.suppress(Exception):
        import psutil

        return psutil.cpu_count(logical=False)
    return None


def _memory_bytes() -> int | None:
    with contextlib.suppress(Exception):
        import psutil

        return int(psutil.virtual_memory().total)
    return None


@functools.cache
def _static_hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_model": _cpu_model(),
        "cpu_logical_cores": os.cpu_count(),
        "cpu_physical_cores": _physical_cores(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": _memory_bytes(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpus": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            info["gpus"].append(
                {
                    "index": i,
                    "name": props.name,
                    "memory_bytes": int(props.total_memory),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
        info["cuda_driver"] = _cuda_driver()
    return info


def _cuda_driver() -> str | None:
    with contextlib.suppress(Exception):
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return str(pynvml.nvmlSystemGetDriverVersion())
    return None


def hardware_info() -> dict[str, Any]:
    """Where a result was made: CPU model and cores, memory, torch/CUDA versions, GPUs.

    The static part is computed once per process; `torch_threads` is read each call
    since a caller may change it.
    """
    info = dict(_static_hardware())
    info["gpus"] = [dict(g) for g in info["gpus"]]
    info["torch_threads"] = torch.get_num_threads()
    return info


def gpu_name(device: torch.device) -> str | None:
    """The GPU's name for a CUDA device, None on CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_name(device)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None leaves it alone)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
