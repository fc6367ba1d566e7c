"""Import a sentence-transformers `SparseEncoder` with a CSR layer as a csrbench model.

The CSR authors release their checkpoints as SparseEncoder folders (and
`sparse_encoder_export` writes the same format), so reading one lets a released CSR be
benchmarked against our own fits on the same embeddings. Only the `SparseAutoEncoder`
module is imported: the modules before it (Transformer, Pooling, Normalize, ...) are the
backbone, whose output embeddings the imported model encodes, as ours encode a
backbone's precomputed embeddings.

Folder layout (sentence-transformers 5.x and 6.x):

    modules.json                       [{"idx", "name", "path", "type"}, ...] in order
    <path>/config.json                 {"input_dim", "hidden_dim", "k", "k_aux",
                                        "normalize", "dead_threshold"}
    <path>/model.safetensors           or pytorch_model.bin:
        pre_bias [d], latent_bias [h], stats_last_nonzero [h] (optional),
        encoder.weight [h, d] (the tied decoder shares it, so safetensors may store it
        only as decoder.linear.weight)

and the module's `type` ends in `SparseAutoEncoder` (`...sparse_encoder.models.` in 5.x,
`...sparse_encoder.modules.sparse_auto_encoder.` in 6.x). Its inference is
z = ReLU(scatter(TopK_k((x - pre_bias) W^T + latent_bias))), our CSR's encoder, so
the weights map one to one: pre_bias, encoder_weight, latent_bias, and
stats_last_nonzero -> steps_since_fired. A module with `normalize: true` (LayerNorm of
the input) or followed by other modules computes something our CSR does not, and is
refused rather than imported approximately.

What is written (the directory `FittedMethod.save` writes, read by `methods.load`):

    model.safetensors   the `CSR` module's state dict
    config.json         format_version 1, method "csr", k, d, h, seed 0, params (below),
                        summary {"imported": true, ...}, train_provenance (the folder, the
                        SAE module's path, type and config, the backbone modules' types)

`params` holds every key a csrbench CSR fit records. Those inference reads are the
checkpoint's (h, k_aux, dead_threshold, tied = true) or chosen here (value_dtype,
encode_batch_size, sparse_backward); the training keys (lr, epochs, gamma, ...) are
csrbench's text-recipe defaults, because the folder does not record how the checkpoint
was trained: `train_provenance.training_params` says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from csrbench.atomic import atomic_dir, write_json
from csrbench.models.csr import CSR

FORMAT_VERSION = 1
SAE_TYPE = "SparseAutoEncoder"

# Training keys of a csrbench CSR fit with the text-recipe defaults (see the module
# docstring): written so that the imported config has the same keys as a fitted one.
_TRAINING_KEYS: dict[str, Any] = {
    "adam_eps": 6.25e-10,
    "amp": "auto",
    "auxk_form": "residual",
    "batch_size": 128,
    "beta": 1 / 32,
    "betas": [0.9, 0.999],
    "contrastive_on": "codes",
    "drop_last": True,
    "epochs": 10,
    "expansion": 4,
    "gamma": 1.0,
    "init_pre_bias": "zeros",
    "logit_scale": 100.0,
    "lr": 4e-4,
    "max_steps": None,
    "modality": "text",
    "multi_k": 4,
    "multi_k_weight": 1 / 8,
    "positives": "self",
    "progress": True,
    "symmetric": False,
    "sync_every": 50,
    "temperature": 0.2,
    "weight_decay": 0.0,
}


class NotImportable(ValueError):
    """The folder is not an importable CSR SparseEncoder; the message says why."""


@dataclass(frozen=True)
class SparseAutoEncoderCheckpoint:
    """The CSR layer of a SparseEncoder folder, as our CSR's parameters."""

    folder: Path
    module_path: str
    module_type: str
    config: dict[str, Any]
    backbone_types: list[str]
    tensors: dict[str, torch.Tensor]  # pre_bias, encoder_weight, latent_bias, steps_since_fired

    @property
    def d(self) -> int:
        return int(self.tensors["encoder_weight"].shape[1])

    @property
    def h(self) -> int:
        return int(self.tensors["encoder_weight"].shape[0])

    @property
    def k(self) -> int:
        return int(self.config.get("k", 8))

    def to_csr(self) -> CSR:
        model = CSR(
            self.d,
            self.h,
            self.k,
            k_aux=int(self.config.get("k_aux", 512)),
            dead_threshold=int(self.config.get("dead_threshold", 30)),
            tied=True,
        )
        model.load_state_dict(self.tensors)
        return model.eval()


def _find_module(folder: Path) -> tuple[str, str, list[str]]:
    """(path, type, backbone module types) of the SAE module; the folder may also be the
    SAE module's own folder."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        cfg = folder / "config.json"
        if cfg.is_file() and {"input_dim", "hidden_dim"} <= set(json.loads(cfg.read_text())):
            return "", SAE_TYPE, []
        raise NotImportable(
            f"{folder} is not a sentence-transformers folder (no modules.json) nor a "
            "SparseAutoEncoder module folder (config.json with input_dim and hidden_dim)"
        )
    modules = sorted(json.loads(modules_file.read_text()), key=lambda m: int(m.get("idx", 0)))
    types = [str(m.get("type", "")) for m in modules]
    hits = [i for i, t in enumerate(types) if t.rsplit(".", 1)[-1] == SAE_TYPE]
    if len(hits) != 1:
        raise NotImportable(
            f"{folder} has {len(hits)} SparseAutoEncoder modules (types: {types}); only a "
            "SparseEncoder with exactly one CSR layer (SparseAutoEncoder) can be imported"
        )
    i = hits[0]
    if i != len(modules) - 1:
        raise NotImportable(
            f"{folder}: the SparseAutoEncoder is followed by {types[i + 1 :]}, which change its "
            "codes; only a SparseAutoEncoder as the last module can be imported"
        )
    return str(modules[i].get("path", "")), types[i], types[:i]


def _read_weights(module_dir: Path) -> dict[str, torch.Tensor]:
    st, pt = module_dir / "model.safetensors", module_dir / "pytorch_model.bin"
    if st.is_file():
        return load_file(str(st))
    if pt.is_file():
        return torch.load(pt, map_location="cpu", weights_only=True)
    raise NotImportable(f"{module_dir} has neither model.safetensors nor pytorch_model.bin")


def read_sparse_encoder(folder: str | os.PathLike[str]) -> SparseAutoEncoderCheckpoint:
    """Read and check the CSR layer of a SparseEncoder folder (nothing is written)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotImportable(f"no directory {str(folder)!r}; give a SparseEncoder folder")
    path, module_type, backbone = _find_module(folder)
    module_dir = folder / path
    cfg_file = module_dir / "config.json"
    if not cfg_file.is_file():
        raise NotImportable(f"{module_dir} has no config.json (the SparseAutoEncoder's settings)")
    cfg = json.loads(cfg_file.read_text())
    if cfg.get("normalize", False):
        raise NotImportable(
            f"{module_dir}: normalize = true (LayerNorm of the input before the encoder) is "
            "not part of csrbench's CSR, so its codes could not be reproduced"
        )
    raw = _read_weights(module_dir)
    w = raw.get("encoder.weight", raw.get("decoder.linear.weight"))
    missing = [n for n in ("pre_bias", "latent_bias") if n not in raw]
    if w is None or missing:
        raise NotImportable(
            f"{module_dir}: weights lack {missing or ['encoder.weight']}; found {sorted(raw)}"
        )
    tied_pair = [raw[n] for n in ("encoder.weight", "decoder.linear.weight") if n in raw]
    if len(tied_pair) == 2 and not torch.equal(*tied_pair):
        raise NotImportable(f"{module_dir}: encoder and decoder weights differ (not tied)")
    h, d = w.shape
    dims = {"input_dim": d, "hidden_dim": h}
    for key, want in dims.items():
        if key in cfg and int(cfg[key]) != want:
            raise NotImportable(
                f"{module_dir}: config {key} = {cfg[key]} but the weights give {want}"
            )
    for name, n in (("pre_bias", d), ("latent_bias", h)):
        if tuple(raw[name].shape) != (n,):
            raise NotImportable(
                f"{module_dir}: {name} has shape {tuple(raw[name].shape)}, not ({n},)"
            )
    k = int(cfg.get("k", 8))
    if not 0 < k <= h:
        raise NotImportable(f"{module_dir}: k = {k} is not in [1, hidden_dim = {h}]")
    stats = raw.get("stats_last_nonzero", torch.zeros(h, dtype=torch.long))
    tensors = {
        "pre_bias": raw["pre_bias"].float(),
        "encoder_weight": w.float().contiguous(),
        "latent_bias": raw["latent_bias"].float(),
        "steps_since_fired": stats.long().reshape(h),
    }
    return SparseAutoEncoderCheckpoint(folder, path, module_type, cfg, backbone, tensors)


def fitted_config(ckpt: SparseAutoEncoderCheckpoint, value_dtype: str) -> dict[str, Any]:
    """config.json of the imported model (keys as `FittedMethod.save` writes them)."""
    model = ckpt.to_csr()
    params = {
        **_TRAINING_KEYS,
        "h": ckpt.h,
        "fields": None,
        "tied": True,
        "k_aux": int(model.k_aux),
        "dead_threshold": int(model.dead_threshold),
        "sparse_backward": "auto",
        "value_dtype": value_dtype,
        "encode_batch_size": 8192,
    }
    return {
        "format_version": FORMAT_VERSION,
        "method": "csr",
        "k": ckpt.k,
        "d": ckpt.d,
        "h": ckpt.h,
        "params": params,
        "seed": 0,
        "summary": {"imported": True, "source": str(ckpt.folder)},
        "train_provenance": {
            "imported_from": str(ckpt.folder.resolve()),
            "format": "sentence-transformers SparseEncoder",
            "sae_module": {"path": ckpt.module_path, "type": ckpt.module_type},
            "sae_config": ckpt.config,
            "backbone_modules": ckpt.backbone_types,
            "training_params": "not recorded by the checkpoint; params hold csrbench defaults",
        },
    }


def import_sparse_encoder(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    value_dtype: str = "float16",
) -> Path:
    """Write the SparseEncoder's CSR layer as a csrbench model directory; returns it.

    The directory is built under a temporary name, checked by loading it with
    `csrbench.methods.load` and encoding probe rows exactly as the CSR module does, and
    only then renamed into place.
    """
    from csrbench.methods import load

    if value_dtype not in ("float16", "float32"):
        raise NotImportable(f"value_dtype must be float16 or float32, got {value_dtype!r}")
    ckpt = read_sparse_encoder(folder)
    model = ckpt.to_csr()
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"method": "csr"})
        write_json(tmp / "config.json", fitted_config(ckpt, value_dtype))
        loaded = load(tmp)
        probe = ckpt.tensors["pre_bias"] + torch.randn(
            64, ckpt.d, generator=torch.Generator().manual_seed(0)
        )
        codes = loaded.encode(probe.numpy())
        idx, vals = model.encode(probe)
        if not (
            np.array_equal(codes.indices.astype(np.int64), idx.numpy())
            and np.array_equal(codes.values, vals.numpy().astype(value_dtype))
        ):
            raise RuntimeError(f"the model written to {tmp} does not encode as the checkpoint")
    return out
