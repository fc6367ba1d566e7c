"""Write-then-rename: nothing appears under the final name unless the write finished."""

import json

import numpy as np
import pytest

from csrbench.atomic import atomic_dir, atomic_path, write_json


def test_atomic_path_keeps_numpy_suffix_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "x.npy"
    with atomic_path(out) as tmp:
        np.save(tmp, np.arange(3))  # numpy appends .npy when the name lacks it
    assert np.load(out).tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "y.npy") as tmp:
        np.save(tmp, np.arange(3))
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    final = tmp_path / "codes"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("half")
        raise KeyboardInterrupt
    assert (final / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes"]
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["b.txt"]


def test_write_json_is_sorted_and_stringifies_paths(tmp_path):
    write_json(tmp_path / "r.json", {"b": 1, "a": tmp_path})
    text = (tmp_path / "r.json").read_text()
    assert text.index('"a"') < text.index('"b"') and text.endswith("}\n")
    assert json.loads(text)["a"] == str(tmp_path)
