"""The fused Triton engine against exact search, run on CPU by Triton's interpreter.

Not collected by the main session: `test_ell_triton.py` runs this file in its own
pytest process with TRITON_INTERPRET=1 set before anything imports Triton. Triton reads
the variable when it decorates a kernel, and its library kernels (`tl.topk`) are
decorated when `triton.language` is first imported; a process that imported Triton
earlier (any test that touched it) cannot interpret them any more.

The kernel is the one a GPU compiles; the interpreter executes it program by program
with numpy, so ids, scores, the tie rule, padding and the block and chunk seams are all
checked here. Its speed is only measured on a GPU (results/bench/README.md).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from retrieval.test_search_engines import exact, random_codes

from csrbench.codes import SparseCodes
from csrbench.retrieval import make_engine, search

SMALL = {"block_q": 4, "block_d": 64}  # many programs on small data: every seam is hit


@pytest.fixture(autouse=True, scope="module")
def interpreted() -> None:
    assert os.environ.get("TRITON_INTERPRET") == "1", "run me through test_ell_triton.py"


@pytest.mark.parametrize("opts", [SMALL, {**SMALL, "chunk": 128}, {"block_q": 16, "block_d": 256}])
def test_matches_exact_search_across_blocks_and_chunks(opts: dict) -> None:
    rng = np.random.default_rng(0)
    db, q = random_codes(301, 96, 8, rng), random_codes(23, 96, 8, rng)
    s, i = search("ell-triton", db, q, 10, **opts)
    ref_s, ref_i = exact(db.to_dense(), q.to_dense(), 10)
    assert s.dtype == np.float32 and i.dtype == np.int64 and i.shape == (23, 10)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-6)


def test_ties_go_to_the_lower_id_across_blocks() -> None:
    """Dyadic values make the sums exact; copies of a document in other blocks and
    chunks tie with it, and the lower id must come first."""
    rng = np.random.default_rng(1)
    levels = np.array([0.25, 0.5, 1.0], np.float32)
    db = random_codes(200, 32, 4, rng, levels)
    for copy in (70, 130, 199):  # another block; another chunk (128 docs); the last row
        db.indices[copy], db.values[copy] = db.indices[3], db.values[3]
    q = random_codes(9, 32, 4, rng, levels)
    s, i = search("ell-triton", db, q, 20, **SMALL, chunk=128)
    ref_s, ref_i = exact(db.to_dense(), q.to_dense(), 20)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(s, ref_s.astype(np.float32))


def test_fewer_documents_than_k_pad_with_minus_inf() -> None:
    rng = np.random.default_rng(2)
    db, q = random_codes(5, 16, 3, rng), random_codes(3, 16, 3, rng)
    s, i = search("ell-triton", db, q, 8, **SMALL)
    ref_s, ref_i = exact(db.to_dense(), q.to_dense(), 5)
    np.testing.assert_array_equal(i[:, :5], ref_i)
    np.testing.assert_allclose(s[:, :5], ref_s, rtol=1e-6)
    assert np.all(i[:, 5:] == -1) and np.all(np.isneginf(s[:, 5:]))


def test_index_bytes_and_floor() -> None:
    db = random_codes(100, 64, 8, np.random.default_rng(3))
    engine = make_engine("ell-triton").build(db)
    assert engine.index_bytes == 100 * 8 * (4 + 4)  # int32 id + float32 value per slot
    assert engine.floor_bytes(db)["floor_bytes"] == engine.index_bytes


def test_bad_options_and_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="block_d must be a power of two, got 100"):
        make_engine("ell-triton", block_d=100)
    db = random_codes(10, 16, 2, np.random.default_rng(4))
    engine = make_engine("ell-triton", **SMALL).build(db)
    with pytest.raises(ValueError, match="at most block_d = 64 results, got k=65"):
        engine.search(db, 65)
    wide = SparseCodes(db.indices, db.values, 32)
    with pytest.raises(ValueError, match="queries have 32 latents, the index 16"):
        engine.search(wide, 3)
