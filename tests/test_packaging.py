"""How csrbench is packaged, installed and described: pyproject's ranges against the lock
files, `pip install .` into an existing environment, the conda env generated from the lock,
`make clean-results` and `make help`, and the citation and workflow-catalog metadata."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
FLAVOURS = {"cpu": ROOT / "requirements" / "cpu.txt", "gpu": ROOT / "requirements" / "gpu.txt"}


def _load_envs_tool():
    spec = importlib.util.spec_from_file_location(
        "envs_from_lock", ROOT / "tools/envs_from_lock.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


envs_tool = _load_envs_tool()


def requirements(flavour: str) -> list[Requirement]:
    """What `pip install .[<flavour>,dev]` asks for."""
    extras = PROJECT["optional-dependencies"]
    return [Requirement(r) for r in PROJECT["dependencies"] + extras[flavour] + extras["dev"]]


def lock_versions(flavour: str) -> dict[str, Version]:
    pins = envs_tool.parse_lock(FLAVOURS[flavour].read_text(), str(FLAVOURS[flavour]))
    return {canonicalize_name(p.name): Version(p.version) for p in pins}


def test_pyproject_has_ranges_not_pins() -> None:
    extras = PROJECT["optional-dependencies"].values()
    every = PROJECT["dependencies"] + [line for group in extras for line in group]
    for line in every:
        req = Requirement(line)
        operators = {spec.operator for spec in req.specifier}
        assert not operators & {"==", "==="}, f"{line}: exact pins belong in requirements/*.txt"
        assert operators & {">=", "~="}, f"{line}: give the tested version as a lower bound"


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_every_range_admits_the_locked_version(flavour: str) -> None:
    locked = lock_versions(flavour)
    for req in requirements(flavour):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is missing from {FLAVOURS[flavour].name}: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"pyproject.toml asks for {req}, {FLAVOURS[flavour].name} pins {locked[name]}"
        )
    # the build backend is locked too, so that an offline `pip install
    # --no-build-isolation .` works in an environment made from the lock
    for line in PYPROJECT["build-system"]["requires"]:
        req = Requirement(line)
        assert req.specifier.contains(locked[canonicalize_name(req.name)]), line


def test_the_two_locks_differ_only_in_faiss_and_its_cuda_runtime() -> None:
    cpu, gpu = lock_versions("cpu"), lock_versions("gpu")
    assert set(cpu) - set(gpu) == {"faiss-cpu"}
    assert {n for n in set(gpu) - set(cpu) if not n.startswith("nvidia-")} == {"faiss-gpu"}
    assert all(gpu[name] == version for name, version in cpu.items() if name in gpu)


def test_pip_installs_into_an_existing_environment(tmp_path: Path) -> None:
    """`pip install .` in a fresh venv that sees this environment's packages (a .pth file),
    with no index: the resolver must accept every range with what is installed, so only
    csrbench itself gets installed, and only into the throwaway venv."""
    setuptools = Version(importlib.metadata.version("setuptools"))
    assert setuptools >= Version("77"), (
        f"setuptools {setuptools} here; the lock pins a newer one (run `make setup`)"
    )
    project = tmp_path / "project"  # a copy: an in-tree build writes build/ and egg-info
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    existing = sysconfig.get_path("purelib")  # where this environment's packages are
    Path(site, "existing-environment.pth").write_text(existing + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"
    flavour = "cpu" if _dist_path("faiss-gpu") is None else "gpu"
    ours = _dist_path("csrbench")  # this environment's own csrbench, if installed
    report = tmp_path / "report.json"
    pip = [python, "-m", "pip", "install", "--no-index", "--no-build-isolation"]
    proc = subprocess.run(
        [*pip, "--report", report, f".[{flavour},dev]"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    assert installed == ["csrbench"]
    where = subprocess.run(
        [python, "-c", "import csrbench; print(csrbench.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(site), where
    metadata = next(Path(site).glob("csrbench-*.dist-info")) / "METADATA"
    assert "License-Expression: MIT" in metadata.read_text()
    assert ours is None or ours.exists(), f"pip touched this environment's csrbench at {ours}"


def _dist_path(name: str) -> Path | None:
    """Where this environment has `name` installed (its dist-info), or None."""
    try:
        return Path(importlib.metadata.distribution(name)._path)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_conda_env_file_is_the_generated_one() -> None:
    lock = ROOT / "requirements" / "cpu.txt"
    expected = envs_tool.render(envs_tool.parse_lock(lock.read_text()))
    assert (ROOT / "envs" / "csrbench.yaml").read_text() == expected, (
        "envs/csrbench.yaml differs from the lock: run `make envs`"
    )


def test_conda_env_holds_every_locked_package_once() -> None:
    pins = envs_tool.parse_lock((ROOT / "requirements" / "cpu.txt").read_text())
    env = yaml.safe_load(envs_tool.render(pins))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda and "pytorch==2.14.1" in conda and "faiss-cpu==1.15.1" in conda
    entries = [(envs_tool.CONDA_FORGE[p.key], p) for p in pins if p.key in envs_tool.CONDA_FORGE]
    assert all(f"{name}=={p.version}" in conda for name, p in entries)
    skipped = [p for p in pins if envs_tool.PROVIDED_BY_PYTORCH.fullmatch(p.key)]
    assert {p.key for p in skipped} >= {"triton", "nvidia-cublas", "cuda-bindings"}
    assert len(conda) - 2 + len(pip) + len(skipped) == len(pins)  # minus python and pip
    assert sorted(pip) == sorted(
        f"{p.name}=={p.version}"
        for p in pins
        if p.key not in envs_tool.CONDA_FORGE and p not in skipped
    )
    # a table entry the lock lacks is a typo or a dropped dependency
    keys = {p.key for p in pins}
    assert set(envs_tool.CONDA_FORGE) <= keys, set(envs_tool.CONDA_FORGE) - keys


def test_a_lock_line_that_is_not_a_pin_is_named() -> None:
    with pytest.raises(envs_tool.LockError, match=r"lock:3: 'torch>=2' is not an exact"):
        envs_tool.parse_lock("# header\nnumpy==2.4.6\ntorch>=2\n")


def test_envs_tool_writes_the_file(tmp_path: Path) -> None:
    lock, out = tmp_path / "lock.txt", tmp_path / "env.yaml"
    lock.write_text("numpy==2.4.6\nnvidia-nccl-cu13==2.30.7\ntyper==0.29.2\n")
    assert envs_tool.main(["--lock", str(lock), "--out", str(out)]) == 0
    env = yaml.safe_load(out.read_text())
    assert env["dependencies"] == ["python=3.11", "pip", "numpy==2.4.6", {"pip": ["typer==0.29.2"]}]
    assert envs_tool.main(["--lock", str(tmp_path / "missing.txt"), "--out", str(out)]) == 1


@pytest.fixture()
def make(tmp_path: Path):
    """`make <target>` with the repository's Makefile in a scratch directory (no .venv)."""
    if shutil.which("make") is None:
        pytest.skip("no `make` on PATH")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")

    def run(target: str) -> str:
        proc = subprocess.run(
            ["make", "-s", target], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    return run


def test_clean_results_keeps_what_git_tracks(make, tmp_path: Path) -> None:
    removed = [
        "results/embeddings/digits/effnet-lite0/train/image.npy",
        "results/codes/digits/csr/k8/train/image.npz",
        "results/models/digits/csr/k8/model.safetensors",
        "results/tests/scratch.txt",
        "logs/train/digits/csr/k8.log",
        "benchmarks/train/digits/csr/k8.tsv",
        ".snakemake/metadata/cmVzdWx0cw==",
        ".snakemake/incomplete/x",
        ".snakemake/log/2026.snakemake.log",
    ]
    kept = [
        "results/README.md",
        "results/metrics/digits/csr/k8.json",
        "results/bench/digits/csr/k8.json",
        "results/scaling/digits/csr/k8.json",
        "results/tables/digits_knn1.csv",
        "results/figures/digits_accuracy_vs_k.png",
        "results/models/digits/csr/k8/summary.json",
        "results/models/digits/csr/k8/train.tsv",
        ".snakemake/conda/0123abcd/bin/python",
    ]
    for rel in removed + kept:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    make("clean-results")
    assert [rel for rel in removed if (tmp_path / rel).exists()] == []
    assert [rel for rel in kept if not (tmp_path / rel).exists()] == []
    for gone in ("results/embeddings", "results/codes", "logs", "benchmarks", ".snakemake/log"):
        assert not (tmp_path / gone).exists(), gone
    make("clean-results")  # again, on a clean tree: nothing to do, no error


def test_make_help_lists_every_target(make) -> None:
    text = (ROOT / "Makefile").read_text()
    phony = next(line for line in text.splitlines() if line.startswith(".PHONY:")).split()[1:]
    listed = {line.split()[0] for line in make("help").splitlines() if line.startswith("  ")}
    assert set(phony) == listed


def test_citation_file() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "version", "license"):
        assert cff.get(key), key
    assert cff["version"] == PROJECT["version"] and cff["license"] == PROJECT["license"]
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2025
    assert paper["title"].startswith("Beyond Matryoshka")
    assert paper["authors"][0] == {"family-names": "Wen", "given-names": "Tiansheng"}
    assert all("family-names" in a and "given-names" in a for a in paper["authors"])
    assert "2503.01776" in paper["url"]


def test_workflow_catalog_file() -> None:
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert usage["software-stack-deployment"]["conda"] is True
    assert usage["report"] is True
    assert (ROOT / "config" / "README.md").exists()  # the catalog shows it as the config docs
