"""Fit a method on plain arrays: `csrbench.fit(X, k=32)`, no split directory needed.

    import csrbench
    model = csrbench.fit(X, k=32)                        # X [n, d]: CSR on X alone
    model = csrbench.fit(Q, k=32, pairs=D)               # D [n, d]: query i pairs with doc i
    model = csrbench.fit(Q, k=32, pairs=P, docs=D)       # P [m, 2] int: (query row, doc row)
    model = csrbench.fit(X, k=32, labels=y, method="mrl")
    codes = model.encode(X)                              # SparseCodes (sparse methods)
    model.save("my-csr")                                 # csrbench.methods.load reads it

The pipeline trains on a `SplitEmbeddings` read from disk; `embeddings_split` builds the
same object in memory, and is the one place where arrays become a training split (the
`csrbench fit` command uses it too), so the API and the command line accept and reject
exactly the same inputs. Nothing here imports torch at module import: `import csrbench`
stays light for the workflow, which only needs the config validator.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csrbench.data.base import Relevance
from csrbench.store import FieldEmbeddings, SplitEmbeddings

if TYPE_CHECKING:
    from csrbench.methods import FittedMethod

# Field names of the splits built here: one field, or a query/doc pair (both train one
# shared model). Both infer the paper's text recipe; `params={"modality": "image"}` picks
# the image one.
SINGLE_FIELD = "embedding"
QUERY_FIELD, DOC_FIELD = "query", "doc"
_BLOCK_ROWS = 65536


class InputError(ValueError):
    """An input array is unusable; the message names the argument and the fix."""


def _name(names: Mapping[str, str] | None, key: str) -> str:
    return (names or {}).get(key, key)


def check_matrix(x: Any, what: str) -> np.ndarray:
    """A finite float [n, d] matrix with n, d > 0 (memory maps stay memory maps)."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(
            f"{what} must be a 2-D embedding matrix [n, d] with n, d > 0, got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(
            f"{what} must hold floats (embeddings), got dtype {x.dtype}; "
            "convert it with x.astype(np.float32)"
        )
    for s in range(0, x.shape[0], _BLOCK_ROWS):  # blockwise: memory maps are not read twice
        block = np.asarray(x[s : s + _BLOCK_ROWS])
        if not np.isfinite(block).all():
            row = s + int(np.argwhere(~np.isfinite(block))[0, 0])
            raise InputError(f"{what} has NaN or infinite values (first in row {row})")
    return x


def check_pairs(pairs: np.ndarray, n_query: int, n_doc: int, what: str) -> np.ndarray:
    """[m, 3] int64 (query row, doc row, grade) from [m, 2] or [m, 3] integer pairs."""
    if (
        not np.issubdtype(pairs.dtype, np.integer)
        or pairs.ndim != 2
        or pairs.shape[1]
        not in (
            2,
            3,
        )
    ):
        raise InputError(
            f"{what} must be an integer array [m, 2] of (query row, doc row) (or [m, 3] with a "
            f"grade), got shape {pairs.shape} dtype {pairs.dtype}"
        )
    if len(pairs) == 0:
        raise InputError(f"{what} is empty: give at least one (query row, doc row) pair")
    pairs = pairs.astype(np.int64)
    if pairs.shape[1] == 2:
        pairs = np.column_stack([pairs, np.ones(len(pairs), dtype=np.int64)])
    for col, n, side in ((0, n_query, "query"), (1, n_doc, "doc")):
        lo, hi = int(pairs[:, col].min()), int(pairs[:, col].max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise InputError(
                f"{what} column {col} must index {side} rows 0..{n - 1}, found {bad}; "
                "pairs are 0-based row numbers into the query and doc matrices"
            )
    if not (pairs[:, 2] > 0).any():
        raise InputError(f"{what} has no pair with a grade > 0 (nothing to train on)")
    return pairs


def embeddings_split(
    x: Any,
    pairs: Any = None,
    docs: Any = None,
    labels: Any = None,
    provenance: dict[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> SplitEmbeddings:
    """A training split from arrays: one field, or a query/doc pair with relevance.

    `pairs` is either an integer [m, 2] array of (row of x, row of docs), with `docs`
    the doc embeddings, or a float [n, d] array row-aligned with x (row i of x pairs with
    row i of it), which is the same as passing it as `docs` alone. `labels` (int [n]) go
    with a single field only. `names` maps the argument names to what the caller calls
    them (the command line says `--pairs`), so errors point at the right thing.
    """
    x = check_matrix(x, _name(names, "x"))
    n, d = x.shape
    if pairs is not None:
        pairs = pairs if isinstance(pairs, np.ndarray) else np.asarray(pairs)
        if np.issubdtype(pairs.dtype, np.floating):
            if docs is not None:
                raise InputError(
                    f"{_name(names, 'pairs')} is a float matrix (doc embeddings row-aligned "
                    f"with {_name(names, 'x')}) and {_name(names, 'docs')} is given too; give "
                    f"integer (query row, doc row) pairs with {_name(names, 'docs')}, or the "
                    "row-aligned doc embeddings alone"
                )
            docs, pairs = pairs, None
            names = {**(names or {}), "docs": _name(names, "pairs")}
        elif docs is None:
            raise InputError(
                f"{_name(names, 'pairs')} holds (query row, doc row) indices but no doc "
                f"embeddings were given; pass them with {_name(names, 'docs')}"
            )
    if docs is None:
        fields = {SINGLE_FIELD: FieldEmbeddings(SINGLE_FIELD, x, np.arange(n), None)}
        if labels is not None:
            lab = np.asarray(labels)
            if lab.ndim != 1 or len(lab) != n or not np.issubdtype(lab.dtype, np.integer):
                raise InputError(
                    f"{_name(names, 'labels')} must be a 1-D integer array with one class per "
                    f"row of {_name(names, 'x')} ({n}), got shape {lab.shape} dtype {lab.dtype}"
                )
            fields[SINGLE_FIELD] = FieldEmbeddings(SINGLE_FIELD, x, np.arange(n), lab)
        return SplitEmbeddings(fields, None, dict(provenance or {}))
    if labels is not None:
        raise InputError(
            f"{_name(names, 'labels')} apply to single-field training only; with query/doc "
            f"pairs the pairs are the supervision: drop {_name(names, 'labels')} or the pairs"
        )
    docs = check_matrix(docs, _name(names, "docs"))
    if docs.shape[1] != d:
        raise InputError(
            f"{_name(names, 'docs')} has width {docs.shape[1]} but {_name(names, 'x')} has {d}; "
            "queries and docs must come from the same embedding model"
        )
    if pairs is None:
        if len(docs) != n:
            raise InputError(
                f"row-aligned {_name(names, 'docs')} must have one row per row of "
                f"{_name(names, 'x')} ({n}), got {len(docs)}; give explicit pairs otherwise"
            )
        rel = np.column_stack([np.arange(n), np.arange(n), np.ones(n, dtype=np.int64)])
    else:
        rel = check_pairs(pairs, n, len(docs), _name(names, "pairs"))
    fields = {
        QUERY_FIELD: FieldEmbeddings(QUERY_FIELD, x, np.arange(n), None),
        DOC_FIELD: FieldEmbeddings(DOC_FIELD, docs, np.arange(len(docs)), None),
    }
    return SplitEmbeddings(
        fields, Relevance(QUERY_FIELD, DOC_FIELD, rel.astype(np.int64)), dict(provenance or {})
    )


def fit(
    X: Any,
    k: int | None = 32,
    pairs: Any = None,
    method: str = "csr",
    labels: Any = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    docs: Any = None,
) -> FittedMethod:
    """Fit `method` at budget k on the rows of X; returns the fitted method.

    The result has `.encode(x, k=None)` (SparseCodes for sparse methods, else an array),
    `.save(dir)`, `.summary` and the per-step `.log`. `params` overrides the method's
    defaults (unknown keys are an error), e.g. `{"epochs": 5, "batch_size": 256}`.
    """
    from csrbench.methods import fit as fit_method

    split = embeddings_split(X, pairs, docs, labels, provenance={"source": "csrbench.api.fit"})
    return fit_method(method, k, split, params=params, device=device, seed=seed)


def validation_scores(
    fitted: FittedMethod, x: Any, model_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """How a fit does on held-out embeddings `x`; cheap, and defined for every method.

    - `knn_overlap@10`: for each row, the share of its 10 nearest other rows of x (cosine,
      exact search on the input embeddings) that are also among its 10 nearest in code
      space (cosine on the codes). 1.0 = the codes keep every neighbourhood.
    - sparse methods: `active_dims_mean` (non-zero values per row) and `dead_latents_frac`
      (latents that are non-zero in no row of x).
    - CSR family: `recon_mse` (mean squared error of the reconstruction from the stored
      codes, per dimension) and `recon_fvu` (squared error over the squared deviation from
      x's mean: the fraction of variance unexplained, 0 = perfect).

    The decoder is read from `model_dir` (the saved model; a temporary save if None).
    """
    from csrbench import metrics
    from csrbench.codes import SparseCodes
    from csrbench.retrieval import search

    x = check_matrix(x, "validation embeddings")
    if x.shape[1] != fitted.d:
        raise InputError(
            f"validation embeddings have width {x.shape[1]}, the model was fitted on {fitted.d}"
        )
    n = x.shape[0]
    codes = fitted.encode(x)
    out: dict[str, Any] = {"n": int(n)}
    if n >= 2:
        kk = min(10, n - 1)
        xn = metrics.l2_normalize(np.asarray(x, dtype=np.float32))
        truth = neighbours(search(None, xn, xn, kk + 1)[1], kk)
        cn = metrics.l2_normalize(codes)
        got = neighbours(search(None, cn, cn, kk + 1)[1], kk)
        same = (truth[:, :, None] == got[:, None, :]).any(axis=2).sum(axis=1)
        out[f"knn_overlap@{kk}"] = float(same.mean() / kk)
    if isinstance(codes, SparseCodes):
        active = codes.values > 0
        out["active_dims_mean"] = float(active.sum(axis=1).mean())
        used = np.zeros(codes.h, dtype=bool)
        used[codes.indices[active].astype(np.int64)] = True
        out["dead_latents_frac"] = float(1.0 - used.mean())
        if model_dir is not None:
            out.update(_reconstruction(Path(model_dir), x, codes))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                fitted.save(tmp)
                out.update(_reconstruction(Path(tmp), x, codes))
    return out


def neighbours(ids: np.ndarray, k: int) -> np.ndarray:
    """The first k ids of each row other than the row itself (self-match removed even when
    a duplicate row ties with it and comes first)."""
    is_self = ids == np.arange(len(ids))[:, None]
    order = np.argsort(is_self, axis=1, kind="stable")  # non-self first, order kept
    return np.take_along_axis(ids, order, axis=1)[:, :k]


def _reconstruction(model_dir: Path, x: np.ndarray, codes: Any) -> dict[str, float]:
    """Reconstruction error of a CSR-family model from its saved decoder (empty when the
    saved model is not a CSR, e.g. a sparse method with another parametrisation)."""
    import torch
    from safetensors.torch import load_file

    from csrbench.models.csr import CSR

    tensors = load_file(str(model_dir / "model.safetensors"))
    if not {"pre_bias", "encoder_weight", "latent_bias"} <= set(tensors):
        return {}
    cfg = json.loads((model_dir / "config.json").read_text())
    h, d = tensors["encoder_weight"].shape
    model = CSR(d, h, min(int(cfg["k"]), h), tied="decoder_weight_untied" not in tensors)
    model.load_state_dict(tensors)
    mean = np.asarray(x, dtype=np.float64).mean(axis=0)
    err = dev = 0.0
    with torch.no_grad():
        for s in range(0, x.shape[0], 8192):
            xb = torch.from_numpy(np.array(x[s : s + 8192], dtype=np.float32))
            idx = torch.from_numpy(codes.indices[s : s + 8192].astype(np.int64))
            vals = torch.from_numpy(codes.values[s : s + 8192].astype(np.float32))
            rec = model.decode_sparse(idx, vals)
            err += float(((rec - xb).double() ** 2).sum())
            dev += float(((xb.double() - torch.from_numpy(mean)) ** 2).sum())
    return {"recon_mse": err / x.size, "recon_fvu": err / dev if dev > 0 else float("nan")}
