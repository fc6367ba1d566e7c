"""Fixtures for the cluster tests (helpers live in slurm_support.py).

Tests marked `slurm` need a controller that answers `scontrol ping` (CI starts one
with `tools/slurm/local_cluster.sh start`); without it they are skipped with the reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_support import TOY, Snakemake, controller_state, copy_profiles


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("slurm") and controller_state() is not None:
            item.add_marker(pytest.mark.skip(reason=controller_state()))


@pytest.fixture
def snakemake() -> Iterator[Snakemake]:
    """Runs snakemake; cancels every SLURM job its runs left behind at teardown."""
    runner = Snakemake()
    yield runner
    if shutil.which("scancel"):
        runner.cancel_all()


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A copy of the toy workflow (tests/slurm/toy) with the repo's profiles."""
    dest = tmp_path / "toy"
    shutil.copytree(TOY, dest)
    copy_profiles(dest)
    return dest
