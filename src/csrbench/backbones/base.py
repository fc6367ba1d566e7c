"""The Backbone protocol and the image plumbing shared by the timm and open_clip backbones.

A backbone turns one `Field` into float32 row batches in item order; the extraction
stage streams those batches to disk, so a backbone never holds a whole split. Two
image paths exist because the two kinds of image field differ by orders of magnitude:

* in-memory uint8 arrays (digits 8x8, lfw 25x25): decoding costs nothing, so they are
  stacked per batch and resized / cropped / normalised as one tensor on the model's
  device. Per-image PIL transforms would cost more than the forward pass here.
* file paths (ImageNet): decoding JPEGs dominates, so a torch DataLoader with worker
  processes decodes and transforms with the library's own (PIL) transform while the
  main process runs the forward pass.

The tensor path reproduces the library transform (shorter-side resize with an
antialiased kernel, torchvision's centre-crop rounding, mean/std); a test checks it
against the PIL transform. Modes it cannot reproduce fall back to the PIL transform.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from os import PathLike, fspath
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from csrbench.data.base import Field


@runtime_checkable
class Backbone(Protocol):
    """What the extraction stage needs from a backbone."""

    dim: int
    kinds: frozenset[str]

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        """float32 [b, dim] batches covering `field.items` in order."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Model id, weights source and sha256, preprocessing, device, amp, versions."""
        ...


def require_kind(backbone: Any, field: Field) -> None:
    """Raise a ValueError naming the backbone and field when the kinds do not match."""
    if field.kind not in backbone.kinds:
        raise ValueError(
            f"backbone {describe(backbone)} cannot embed field {field.name!r} of kind "
            f"{field.kind!r}; it embeds {sorted(backbone.kinds)}"
        )


def describe(backbone: Any) -> str:
    """A short human name for errors: type and model id."""
    name = getattr(backbone, "name", None) or type(backbone).__name__
    return f"{name!r} ({type(backbone).__name__})"


# --------------------------------------------------------------------------- images

_TORCH_MODES = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest"}


@dataclass(frozen=True)
class ImageSpec:
    """The eval transform of a model, in the terms both libraries use.

    resize: "shortest" (shorter side -> resize_size, aspect kept) or "squash" (both
    sides -> resize_size); then a centre crop to crop_size (H, W); then mean/std.
    """

    resize_mode: str
    resize_size: tuple[int, int] | int
    crop_size: tuple[int, int]
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def tensor_path_ok(self) -> bool:
        """Whether the batched tensor path reproduces this transform."""
        return self.resize_mode in ("shortest", "squash") and self.interpolation in _TORCH_MODES

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shortest_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """torchvision's Resize(int) output size: short side = size, long side truncated."""
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def preprocess_uint8(batch: np.ndarray, spec: ImageSpec, device: torch.device) -> torch.Tensor:
    """[b, H, W] or [b, H, W, C] uint8 -> normalised float [b, 3, h, w] on `device`.

    Gray images are repeated to 3 channels (after resizing, which is done once per gray
    image) and a 4th (alpha) channel is dropped, as PIL's convert("RGB") does; resizing
    follows PIL (see `_resize_crop_like_pil`); then mean/std in one fused step.
    """
    if batch.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8 (0..255), got {batch.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(batch))
    if device.type == "cuda":
        x = x.pin_memory()  # pageable copies would block the host on the running forward
    x = x.to(device, non_blocking=True)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4):
        x = x[..., : min(3, x.shape[-1])].permute(0, 3, 1, 2)
    else:
        raise ValueError(
            f"image arrays must be H x W or H x W x {{1,3,4}}, got item shape {batch.shape[1:]}"
        )
    h, w = x.shape[-2:]
    if spec.resize_mode == "shortest":
        size = spec.resize_size if isinstance(spec.resize_size, int) else min(spec.resize_size)
        out_hw = _shortest_side_size(h, w, size)
    else:
        rs = spec.resize_size
        out_hw = (rs, rs) if isinstance(rs, int) else (int(rs[0]), int(rs[1]))
    x = _resize_crop_like_pil(x, out_hw, spec.crop_size, _TORCH_MODES[spec.interpolation])
    scale, shift = _normalizer(spec.mean, spec.std, device)
    return torch.addcmul(shift, x.float(), scale).contiguous()  # broadcasts gray to RGB


@functools.lru_cache(maxsize=16)
def _normalizer(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x / 255 - mean) / std as x * scale + shift, per channel."""
    m = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    return (1 / (255 * s)).float().to(device), (-m / s).float().to(device)


@functools.lru_cache(maxsize=64)
def _resize_matrix(
    n_in: int, n_out: int, start: int, length: int, mode: str, device: torch.device
) -> torch.Tensor:
    """Rows start..start+length of the [n_out, n_in] 1-D resampling matrix (float64).

    Resampling is linear, so resizing an identity basis with torch's antialiased kernels
    (PIL's, bicubic a = -0.5) yields exactly the weights F.interpolate would apply.
    """
    eye = torch.eye(n_in, dtype=torch.float64).view(1, n_in, 1, n_in)
    kwargs: dict[str, Any] = {"mode": mode}
    if mode != "nearest":
        kwargs.update(antialias=True, align_corners=False)
    weights = F.interpolate(eye, size=(1, n_out), **kwargs)[0, :, 0, :].T  # [n_out, n_in]
    return weights[start : start + length].contiguous().to(device)


def _resize_crop_like_pil(
    x: torch.Tensor, out_hw: tuple[int, int], crop: tuple[int, int], mode: str
) -> torch.Tensor:
    """Resize uint8 [b, c, h, w] to out_hw the way PIL does, then centre-crop to `crop`.

    PIL resamples horizontally, then vertically, rounding and clamping to uint8 after
    each pass. A single 2-D bicubic pass differs visibly wherever the kernel overshoots
    (up to 17/255 on 8x8 digits upscaled to 256); two passes with rounding match PIL
    to one grey level. Each pass is a product with a cached [out, in] weight matrix cut
    to the crop (torchvision's rounding of the crop offset), so pixels outside the crop
    are never computed; float64 keeps the products exact whatever TF32 settings are on.
    Returns float64 values in 0..255.
    """
    h, w = x.shape[-2:]
    (oh, ow), (ch, cw) = out_hw, crop
    if ch > oh or cw > ow:
        raise ValueError(f"crop {crop} larger than resized image {out_hw}")
    top, left = round((oh - ch) / 2.0), round((ow - cw) / 2.0)
    x = x.double()
    if ow != w:
        x = (x @ _resize_matrix(w, ow, left, cw, mode, x.device).T).round_().clamp_(0.0, 255.0)
    else:
        x = x[..., left : left + cw]
    if oh != h:
        x = (_resize_matrix(h, oh, top, ch, mode, x.device) @ x).round_().clamp_(0.0, 255.0)
    else:
        x = x[..., top : top + ch, :]
    return x


class _ImageDataset(torch.utils.data.Dataset):
    """Decodes one image (path or array) with the library's PIL transform."""

    def __init__(self, items: Sequence[Any], transform: Callable[[Any], torch.Tensor]):
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        item = self.items[i]
        if isinstance(item, str | PathLike):
            with Image.open(fspath(item)) as im:
                img = im.convert("RGB")
        else:
            img = Image.fromarray(np.asarray(item)).convert("RGB")
        return self.transform(img)


def is_path_items(items: Sequence[Any]) -> bool:
    return len(items) > 0 and isinstance(items[0], str | PathLike)


def image_batches(
    items: Sequence[Any],
    batch_size: int,
    spec: ImageSpec,
    pil_transform: Callable[[Any], torch.Tensor],
    device: torch.device,
    num_workers: int,
) -> Iterator[torch.Tensor]:
    """Preprocessed [b, 3, h, w] float batches on `device`, in item order.

    Paths (or arrays whose transform the tensor path cannot reproduce) go through a
    DataLoader with `num_workers` decoding processes so decoding overlaps the forward;
    uint8 arrays are stacked per batch and preprocessed on the device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if is_path_items(items) or not spec.tensor_path_ok:
        loader = torch.utils.data.DataLoader(
            _ImageDataset(items, pil_transform),
            batch_size=batch_size,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if num_workers > 0 else None,
        )
        for x in loader:
            yield x.to(device, non_blocking=True)
        return
    n = len(items)
    for start in range(0, n, batch_size):
        chunk = items[start : start + batch_size]
        if isinstance(chunk, np.ndarray):
            yield preprocess_uint8(chunk, spec, device)
            continue
        arrays = [np.asarray(a) for a in chunk]
        if all(a.shape == arrays[0].shape for a in arrays):
            yield preprocess_uint8(np.stack(arrays), spec, device)
        else:  # mixed sizes: preprocess one by one, then batch the (equal-size) results
            yield torch.cat([preprocess_uint8(a[None], spec, device) for a in arrays])


# On CUDA, `to_host` keeps one batch in flight: batch i+1 is preprocessed and its forward
# queued before batch i is copied back, so the GPU never waits for the store's host work.
PIPELINE_CUDA = True


def to_host(outputs: Iterator[torch.Tensor], device: torch.device) -> Iterator[np.ndarray]:
    """float32 numpy batches from device output tensors, in order.

    On CPU (or with PIPELINE_CUDA off) each output is converted as it comes. On CUDA
    each output is copied asynchronously into pinned host memory and yielded only after
    the next batch's work has been queued, which overlaps the device->host copy and the
    caller's host work (sharding, saving) with the next forward.
    """
    if device.type != "cuda" or not PIPELINE_CUDA:
        for out in outputs:
            yield out.float().cpu().numpy()
        return
    pending: deque[tuple[torch.Tensor, torch.cuda.Event]] = deque()
    for out in outputs:
        host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(out.float(), non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        pending.append((host, done))
        if len(pending) > 1:
            host, done = pending.popleft()
            done.synchronize()
            yield host.numpy()
    while pending:
        host, done = pending.popleft()
        done.synchronize()
        yield host.numpy()


def iter_slices(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)
