"""Write-then-rename, the one way every csrbench job writes a file or a directory.

Snakemake (and a user reading `results/`) takes a path that exists as finished. A job
killed half-way (Ctrl-C, SLURM time limit, out of memory) must therefore never leave a
truncated file or a half-filled directory under its final name: everything is written
under a temporary sibling and renamed into place (atomic on one filesystem) only once
complete.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temporary_sibling(path: str | os.PathLike[str]) -> Path:
    """`dir/.name.tmp.ext`: hidden, and ending in the same suffix, because numpy appends
    `.npy`/`.npz` to a name that lacks it and would then write somewhere else."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def fresh_dir(path: str | os.PathLike[str]) -> Path:
    """An empty directory at `path` (whatever an interrupted earlier job left is removed)."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def move_into_place(tmp: str | os.PathLike[str], final: str | os.PathLike[str]) -> Path:
    """Rename the finished directory `tmp` onto `final`, replacing an older `final`."""
    final = Path(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def incomplete_dir(path: str | os.PathLike[str]) -> Path:
    """The name a directory is built under before `move_into_place`."""
    path = Path(path)
    return path.with_name(path.name + ".incomplete")


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty `path.incomplete` directory; it becomes `path` only if the block
    succeeds, and is deleted if it raises."""
    tmp = fresh_dir(incomplete_dir(path))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    move_into_place(tmp, path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Indented JSON with sorted keys (stable diffs of committed results), atomically;
    values json cannot encode (paths, numpy scalars) are written as their str()."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
