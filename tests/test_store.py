"""store.py: streamed shards survive interruptions, commits are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csrbench.data.base import Relevance
from csrbench.store import PROVENANCE, SplitWriter, load_split, write_matrix_streamed


def batches(x: np.ndarray, size: int, fail_after: int | None = None):
    """Row batches of x; raise after `fail_after` rows have been yielded (an interruption)."""
    for start in range(0, len(x), size):
        if fail_after is not None and start >= fail_after:
            raise RuntimeError("interrupted")
        yield x[start : start + size]


def test_round_trip_and_cleanup(tmp_path) -> None:
    x = np.random.default_rng(0).normal(size=(23, 5)).astype(np.float32)
    path = tmp_path / "m.npy"
    assert write_matrix_streamed(path, batches(x, 4), n=23, shard_rows=10) == (23, 5)
    np.testing.assert_array_equal(np.load(path), x)
    assert not (tmp_path / "m.npy.shards").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy"]


def test_float16_storage(tmp_path) -> None:
    x = np.random.default_rng(1).normal(size=(7, 3))
    path = tmp_path / "m.npy"
    write_matrix_streamed(path, batches(x, 3), n=7, dtype="float16", shard_rows=4)
    got = np.load(path)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, x.astype(np.float16))


def test_interrupted_stream_resumes_from_finished_shards(tmp_path) -> None:
    x = np.arange(50 * 2, dtype=np.float32).reshape(50, 2)
    path, shards = tmp_path / "m.npy", tmp_path / "resume" / "m.shards"
    with pytest.raises(RuntimeError, match="interrupted"):
        write_matrix_streamed(
            path, batches(x, 3, fail_after=27), n=50, shard_rows=10, shard_dir=shards
        )
    assert not path.exists()
    assert sorted(p.name for p in shards.iterdir()) == ["shard-000000.npy", "shard-000001.npy"]
    # the rerun's stream differs in the rows the shards cover: the stored rows must win,
    # proving the shards were reused rather than rewritten
    y = x.copy()
    y[:20] = -1
    write_matrix_streamed(path, batches(y, 3), n=50, shard_rows=10, shard_dir=shards)
    np.testing.assert_array_equal(np.load(path), x)
    assert not shards.exists()


def test_short_final_shard_is_redone(tmp_path) -> None:
    shards = tmp_path / "s"
    shards.mkdir()
    np.save(shards / "shard-000000.npy", np.zeros((10, 2), np.float32))
    np.save(shards / "shard-000001.npy", np.full((4, 2), 7, np.float32))  # short: redo
    np.save(shards / "shard-000002.npy.tmp.npy", np.zeros((1, 2), np.float32))  # torn write
    x = np.ones((14, 2), np.float32)
    write_matrix_streamed(tmp_path / "m.npy", batches(x, 5), n=14, shard_rows=10, shard_dir=shards)
    got = np.load(tmp_path / "m.npy")
    np.testing.assert_array_equal(got[:10], 0)  # reused
    np.testing.assert_array_equal(got[10:], 1)  # recomputed


def test_stream_errors(tmp_path) -> None:
    x = np.zeros((6, 2), np.float32)
    with pytest.raises(ValueError, match="expected 7 rows, the stream gave 6"):
        write_matrix_streamed(tmp_path / "a.npy", batches(x, 4), n=7)
    with pytest.raises(ValueError, match="width changed from 2 to 3"):
        write_matrix_streamed(tmp_path / "b.npy", iter([x, np.zeros((1, 3))]), n=7)
    with pytest.raises(ValueError, match="must be 2-D"):
        write_matrix_streamed(tmp_path / "c.npy", iter([np.zeros(3)]), n=3)
    assert not (tmp_path / "a.npy").exists()


def write_split(writer: SplitWriter, n: int = 12) -> np.ndarray:
    x = np.random.default_rng(2).normal(size=(n, 4)).astype(np.float32)
    ids = np.array([f"id{i}" for i in range(n)])
    writer.write_field("doc", batches(x, 5), ids=ids, labels=np.arange(n) % 3, shard_rows=5)
    writer.write_field("query", batches(x[:3], 2), ids=ids[:3], labels=None, shard_rows=5)
    writer.write_relevance(Relevance("query", "doc", np.array([[0, 0, 1], [1, 1, 2]])))
    return x


def test_split_writer_commit_and_load(tmp_path) -> None:
    final, resume = tmp_path / "out" / "split", tmp_path / "resume"
    with SplitWriter(final, resume) as w:
        x = write_split(w)
        assert not final.exists()  # nothing finished-looking before commit
        assert not (w.tmp / PROVENANCE).exists()
        w.commit({"model": "m"})
    assert not w.tmp.exists() and not resume.exists()
    prov = json.loads((final / PROVENANCE).read_text())
    assert prov["fields"]["doc"] == {"n": 12, "d": 4, "dtype": "float32"}
    assert prov["relevance"] == {"source": "query", "target": "doc", "m": 2}
    s = load_split(final)
    assert isinstance(s.field("doc").x, np.memmap)
    np.testing.assert_array_equal(s.field("doc").x, x)
    np.testing.assert_array_equal(s.field("doc").labels, np.arange(12) % 3)
    assert s.field("query").labels is None and s.field("query").ids.tolist() == [
        "id0",
        "id1",
        "id2",
    ]
    np.testing.assert_array_equal(s.relevance.pairs, [[0, 0, 1], [1, 1, 2]])
    with pytest.raises(KeyError, match="no field 'image'"):
        s.field("image")


def test_exception_leaves_no_finished_looking_dir_and_keeps_shards(tmp_path) -> None:
    final, resume = tmp_path / "split", tmp_path / "resume"
    x = np.ones((30, 2), np.float32)
    ids = np.array([str(i) for i in range(30)])
    with pytest.raises(RuntimeError, match="interrupted"), SplitWriter(final, resume) as w:
        w.write_field("a", batches(x[:8], 4), ids=ids[:8], labels=None, shard_rows=4)
        w.write_field("b", batches(x, 4, fail_after=12), ids=ids, labels=None, shard_rows=4)
    assert not final.exists() and not (tmp_path / "split.incomplete").exists()
    with pytest.raises(FileNotFoundError, match="not a finished embedding split"):
        load_split(final)
    # field b's finished shards survive for the rerun (field a was already concatenated)
    assert sorted(p.name for p in (resume / "b.shards").iterdir()) == [
        "shard-000000.npy",
        "shard-000001.npy",
        "shard-000002.npy",
    ]


def test_commit_replaces_an_old_split(tmp_path) -> None:
    final, resume = tmp_path / "split", tmp_path / "resume"
    final.mkdir()
    (final / "stale.npy").write_bytes(b"old")
    with SplitWriter(final, resume) as w:
        write_split(w)
        w.commit({})
    assert not (final / "stale.npy").exists() and (final / PROVENANCE).exists()


def test_stale_incomplete_dir_is_cleared(tmp_path) -> None:
    final, resume = tmp_path / "split", tmp_path / "resume"
    (tmp_path / "split.incomplete").mkdir()
    (tmp_path / "split.incomplete" / "junk").write_text("x")
    with SplitWriter(final, resume) as w:
        assert not (w.tmp / "junk").exists()
        write_split(w)
        w.commit({})
    assert sorted(p.name for p in final.iterdir()) == sorted(
        [
            "doc.ids.npy",
            "doc.labels.npy",
            "doc.npy",
            "provenance.json",
            "query.ids.npy",
            "query.npy",
            "relevance.npy",
        ]
    )
