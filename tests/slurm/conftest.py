"""Fixtures for the cluster tests (helpers live in slurm_support.py).

Tests marked `slurm` need a controller that answers `scontrol ping` (CI starts one
with `tools/slurm/local_cluster.sh start`); without it they are skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_support import TOY, Node, Snakemake, controller_state, copy_profiles


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "slurm" in item.keywords and controller_state() is not None:
            item.add_marker(pytest.mark.skip(reason=controller_state()))


@pytest.fixture(scope="session")
def slurm_node() -> Node:
    """The smallest node of the default partition (what the test jobs must fit)."""
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%c %m"], capture_output=True, text=True, timeout=20
    ).stdout.split("\n")
    sizes = [tuple(int(x.rstrip("+")) for x in line.split()) for line in out if line.strip()]
    cpus, mem = min(sizes)
    return Node(cpus=cpus, mem_mb=mem)


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
