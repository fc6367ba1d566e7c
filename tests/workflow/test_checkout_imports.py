"""The workflow runs on the csrbench of its own checkout, installed or not.

A copy of the repository (workflow/, scripts/, src/, config/, envs/ and the result files
under results/) whose csrbench announces where it was imported from: a plain `snakemake`
started in the copy must parse the workflow with that csrbench, and the `figures` job's
script must run with it, although the Python running them has another csrbench installed
(the editable install of the main checkout) or none at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
MARKER = "csrbench imported from"


def checkout_copy(dest: Path) -> Path:
    """The parts of the repository a run reads, with a csrbench that reports its import."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("workflow", "scripts", "src", "config", "envs"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    results = ROOT / "results"
    committed = [
        *results.glob("metrics/**/*.json"),
        *results.glob("bench/**/*.json"),
        *results.glob("scaling/**/*.json"),
        *results.glob("models/**/summary.json"),
        *results.glob("models/**/train.tsv"),
    ]
    assert committed, f"no result files under {results}"
    for path in committed:
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    init = dest / "src" / "csrbench" / "__init__.py"
    init.write_text(
        init.read_text()
        + f'\nimport sys as _sys\n\nprint(f"{MARKER} {{__file__}} by {{_sys.argv[0]}}", '
        "file=_sys.stderr)\n"
    )
    return dest


def test_plain_snakemake_runs_the_checkouts_csrbench(tmp_path: Path) -> None:
    copy = checkout_copy(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"

    # the same Python, outside the workflow, does not find the copy's csrbench
    probe = subprocess.run(
        [sys.executable, "-c", "import csrbench; print(csrbench.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert str(copy) not in probe.stdout + probe.stderr

    run = subprocess.run(
        [str(SNAKEMAKE), "figures", "--cores", "1"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    init = copy / "src" / "csrbench" / "__init__.py"
    imports = [line for line in run.stderr.splitlines() if line.startswith(MARKER)]
    assert imports and all(line.startswith(f"{MARKER} {init} by ") for line in imports), imports
    programs = sorted(Path(line.rsplit(" by ", 1)[1]).name for line in imports)
    # one import parsing the workflow, one in the job's script: Snakemake's copy of
    # scripts/report.py under .snakemake/scripts/
    assert len(programs) == 2, imports
    assert programs[0] == "snakemake" and programs[1].endswith(".report.py"), imports
    assert (copy / "results" / "tables" / "digits_knn1.csv").exists()
