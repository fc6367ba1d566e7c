"""Helpers for tests/slurm: the SLURM controller check, repo/toy copies, and a snakemake
runner that records the SLURM run IDs it started (so teardown can scancel them)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy"
VENV_BIN = Path(sys.executable).parent

# What a test run adds to `--profile slurm` on the local test cluster (docs/cluster.md):
# no GPUs there, 2 CPUs per node, and a first status check after 7 s (a trivial job
# takes about 6 s there) instead of 40 s.
LOCAL_CLUSTER_ARGS = [
    "--profile", "slurm",
    "--profile", "slurm/cpu-only",
    "--max-threads", "2",
    "--slurm-init-seconds-before-status-checks", "7",
    "--slurm-keep-successful-logs",
]  # fmt: skip


@functools.cache
def controller_state() -> str | None:
    """None when a SLURM controller answers, else why the slurm tests are skipped."""
    if shutil.which("scontrol") is None:
        return "SLURM is not installed (start a local one: tools/slurm/local_cluster.sh start)"
    try:
        out = subprocess.run(
            ["scontrol", "ping"], capture_output=True, text=True, timeout=20
        ).stdout
    except subprocess.TimeoutExpired:
        out = ""
    if "is UP" not in out:
        return (
            "no SLURM controller answers `scontrol ping` "
            "(start a local one: tools/slurm/local_cluster.sh start)"
        )
    return None


def job_env(cwd: Path) -> dict[str, str]:
    """The environment of an activated venv: SLURM jobs inherit it (sbatch --export=ALL).

    In a copy of the repository, the copy's src/ comes first on PYTHONPATH (ahead of the
    venv's editable install of the original), so workflow and library are one snapshot.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env.pop("PYTHONHOME", None)
    if (cwd / "src" / "csrbench").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(cwd / "src"), env.get("PYTHONPATH")) if p
        )
    return env


@dataclass
class Run:
    returncode: int
    log: str
    seconds: float
    slurm_run_ids: list[str] = field(default_factory=list)


class Snakemake:
    """Runs snakemake in a directory, output to a log file, under a hard timeout.

    Every SLURM run it started is cancelled at teardown (by the plugin's run ID, which
    is each job's name), so a failing test leaves no jobs in the queue.
    """

    def __init__(self) -> None:
        self.run_ids: set[str] = set()

    def start(self, args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "snakemake", *args]
        fh = open(log, "w")  # noqa: SIM115 - closed by the child's exit
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        return subprocess.Popen(
            cmd, cwd=cwd, env=job_env(cwd), stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def finish(self, proc: subprocess.Popen, log: Path, timeout: float, t0: float) -> Run:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.interrupt(proc, grace=240)
        text = log.read_text()
        ids = re.findall(r"SLURM run ID: (\S+)", text)
        self.run_ids.update(ids)
        return Run(proc.returncode, text, time.monotonic() - t0, ids)

    def __call__(self, args: list[str], cwd: Path, log: Path, timeout: float = 900) -> Run:
        t0 = time.monotonic()
        return self.finish(self.start(args, cwd, log), log, timeout, t0)

    @staticmethod
    def interrupt(proc: subprocess.Popen, grace: float) -> None:
        """Ctrl-C (snakemake cancels its SLURM jobs); SIGKILL if it outlives `grace` s.

        The executor's status thread sleeps up to 180 s between checks and snakemake
        waits for it before exiting, hence the long grace.
        """
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def cancel_all(self) -> None:
        for run_id in self.run_ids:
            subprocess.run(["scancel", "--name", run_id], capture_output=True, timeout=30)


def copy_profiles(dest: Path) -> None:
    """profiles/ and the `slurm` symlink, as committed: `--profile slurm` works in dest."""
    if not (dest / "profiles").exists():
        shutil.copytree(REPO / "profiles", dest / "profiles", symlinks=True)
    if not (dest / "slurm").is_symlink():
        (dest / "slurm").symlink_to(os.readlink(REPO / "slurm"))


def copy_repo(dest: Path) -> Path:
    """The working tree as git sees it (tracked + untracked, not ignored), no outputs."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, files):
        src = REPO / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        if rel.split("/", 1)[0] in {"results", "logs", "benchmarks"}:
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            out.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, out)
    copy_profiles(dest)
    return dest
