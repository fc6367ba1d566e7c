"""Exact top-K with one tie rule for every engine: higher score first, then lower id.

`torch.topk` leaves the order of equal scores unspecified, so two engines that compute
the same scores could still return different ids. Packing (score, id) into one int64
key whose order is score-major and id-minor (lower id = larger key) makes every key
unique: topk on keys is then deterministic, and merging the running top-K of one
database chunk with the next is a topk over concatenated keys. The score survives the
round trip bit for bit (the float32's bits are stored, only re-ordered).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

_LOW32 = 0xFFFFFFFF
_ABS31 = 0x7FFFFFFF
MAX_IDS = 1 << 32  # ids must fit in the key's low 32 bits


def pack_keys(scores: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """float32 scores and int64 ids (same shape) -> int64 keys.

    Float32 bits map to an order-preserving int32 (negative floats have their
    magnitude bits flipped); -0.0 is folded onto +0.0 first so that it ties with it.
    """
    if scores.dtype != torch.float32:
        scores = scores.float()
    bits = (scores + 0.0).contiguous().view(torch.int32)
    bits = bits ^ ((bits >> 31) & _ABS31)
    return (bits.to(torch.int64) << 32) | (_LOW32 - ids)


def score_keys(scores: torch.Tensor, id_offset: int = 0) -> torch.Tensor:
    """Keys of a [nq, c] score block whose columns are ids id_offset..id_offset+c-1."""
    c = scores.shape[-1]
    ids = id_offset + torch.arange(c, device=scores.device, dtype=torch.int64)
    return pack_keys(scores, ids.expand_as(scores))


def block_topk_keys(block: torch.Tensor, k: int, id_offset: int = 0) -> torch.Tensor:
    """Keys of the exact top-k (tie rule included) of a [nq, c] score block.

    Packing a whole block into keys costs several passes over it, so the fast path is
    a float topk of k + 1: where the k-th and (k+1)-th scores differ, the top-k set is
    unique and only its order among equal scores needs the keys (on [nq, k]); rows with
    a tie across the k-th place (rare on real embeddings) are redone on full keys.
    """
    c = block.shape[-1]
    if c <= k:
        return topk_keys(score_keys(block, id_offset), k)
    vals, idx = torch.topk(block, k + 1, dim=-1, largest=True, sorted=True)
    keys = pack_keys(vals[:, :k], idx[:, :k] + id_offset)
    tied = torch.nonzero(vals[:, k - 1] == vals[:, k]).flatten()
    if len(tied):
        keys[tied] = topk_keys(score_keys(block[tied], id_offset), k)
    return keys.sort(dim=-1, descending=True).values


def decode_keys(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int64 keys -> (float32 scores, int64 ids)."""
    bits = (keys >> 32).to(torch.int32)
    bits = bits ^ ((bits >> 31) & _ABS31)
    ids = _LOW32 - (keys & _LOW32)
    return bits.view(torch.float32), ids


def topk_keys(keys: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest keys per row, sorted descending (k clipped to the row length)."""
    k = min(k, keys.shape[-1])
    return torch.topk(keys, k, dim=-1, largest=True, sorted=True).values


def merge_topk(
    running: torch.Tensor | None, block: torch.Tensor, k: int, id_offset: int
) -> torch.Tensor:
    """Running top-k keys updated with a [nq, c] score block of ids id_offset.."""
    new = block_topk_keys(block, k, id_offset)
    if running is None:
        return new
    return topk_keys(torch.cat([running, new], dim=1), k)


def topk_over_chunks(
    blocks: Iterable[tuple[int, torch.Tensor]], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k (scores, ids), padded to k columns, over [nq, c] score blocks given
    with the database id of their first column: what a chunked scan ends with."""
    best = None
    for id_offset, block in blocks:
        best = merge_topk(best, block, k, id_offset)
    if best is None:
        raise ValueError("no score blocks: the database is empty")
    return pad_results(*decode_keys(best), k)


def pad_results(
    scores: torch.Tensor, ids: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to k columns (score -inf, id -1) when the database has fewer than k rows,
    as faiss does, so every engine returns [nq, k]."""
    missing = k - scores.shape[1]
    if missing <= 0:
        return scores, ids
    nq = scores.shape[0]
    pad_s = torch.full((nq, missing), float("-inf"), dtype=scores.dtype, device=scores.device)
    pad_i = torch.full((nq, missing), -1, dtype=ids.dtype, device=ids.device)
    return torch.cat([scores, pad_s], 1), torch.cat([ids, pad_i], 1)
