"""Helpers to run the real workflow in a scratch working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake_output import job_stats

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow with `workdir` as working directory."""
    cmd = [str(SNAKEMAKE), "--snakefile", str(ROOT / "workflow" / "Snakefile"), "-d", str(workdir)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """{rule: count} a run or dry run printed; {} when there was nothing to do."""
    return job_stats(proc.stdout)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Workflow:
    """What the workflow tests need, handed out as one fixture."""

    root = ROOT
    run = staticmethod(snakemake)
    planned_jobs = staticmethod(planned_jobs)
    write_config = staticmethod(write_config)

    @staticmethod
    def load_yaml(rel: str) -> dict:
        return yaml.safe_load((ROOT / rel).read_text())


@pytest.fixture()
def wf() -> type[Workflow]:
    return Workflow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """A scratch directory where the tiny CI config has run to completion once."""
    workdir = tmp_path_factory.mktemp("e2e")
    config = workdir / "test.yaml"
    config.write_text((ROOT / "config" / "test.yaml").read_text())
    snakemake(workdir, "--cores", "2", "--configfile", str(config))
    return workdir, config
