"""`csr-st`: a released CSR checkpoint, read from a sentence-transformers SparseEncoder
folder (the format the CSR authors publish, and `sparse_encoder_export` writes), as the
fit of one budget k. Nothing is trained: the "fit" checks the checkpoint against the
experiment (its input width is the backbone's, its k is the budget) and keeps its
weights, so the released model is encoded, evaluated and compared like our own CSR
fits on the same embeddings. The reading and its checks are `sparse_encoder_import`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from csrbench.methods.csr import FittedCSR
from csrbench.methods.params import ImportedCSRParams
from csrbench.methods.registry import MethodSpec
from csrbench.sparse_encoder_import import NotImportable, read_sparse_encoder
from csrbench.store import SplitEmbeddings

K_PLACEHOLDER = "{k}"


def checkpoint_folder(template: str, k: int) -> Path:
    """The folder of budget k: `template` with {k} replaced (or as is, for one k)."""
    if not template:
        raise NotImportable(
            "csr-st reads a released checkpoint: set method_params.csr-st.folder to its "
            "SparseEncoder folder ({k} is replaced by the budget)"
        )
    return Path(template.replace(K_PLACEHOLDER, str(k))).expanduser()


class ImportedCSR(FittedCSR):
    """A CSR whose weights come from a SparseEncoder folder instead of training."""

    @classmethod
    def fit(
        cls,
        spec: MethodSpec,
        k: int | None,
        split: SplitEmbeddings,
        params: ImportedCSRParams,
        device: torch.device,
        seed: int,
    ) -> ImportedCSR:
        assert k is not None and params.fields  # per-k; params_for_split resolves fields
        folder = checkpoint_folder(params.folder, k)
        ckpt = read_sparse_encoder(folder)
        d = int(split.field(params.fields[0]).x.shape[1])
        if ckpt.d != d:
            raise NotImportable(
                f"{folder} encodes {ckpt.d}-d embeddings but this experiment's backbone gives "
                f"{d}-d ones: benchmark it on the backbone it was trained on"
            )
        if ckpt.k != k:
            raise NotImportable(
                f"{folder} was trained at k = {ckpt.k}, not at this budget k = {k}: point "
                "method_params.csr-st.folder at one checkpoint per k ({k} in the path), or "
                "list only its k"
            )
        model = ckpt.to_csr()
        p = replace(
            params,
            h=ckpt.h,
            k_aux=int(model.k_aux),
            dead_threshold=int(model.dead_threshold),
            tied=True,
        )
        fitted = cls(spec, k, d, p, model.to(device))
        fitted.device = device
        fitted.summary = {
            "imported": True,
            "source": str(folder.resolve()),
            "sae_module": {"path": ckpt.module_path, "type": ckpt.module_type},
            "backbone_modules": ckpt.backbone_types,
        }
        return fitted
