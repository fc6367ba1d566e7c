"""Cluster execution through `snakemake --profile slurm` (profiles/slurm, docs/cluster.md).

Three layers:
- profile checks that need no cluster (dry runs print each job's SLURM resources);
- `slurm` tests on a toy workflow with the real rule names (tests/slurm/toy): every job
  goes through sbatch to slurmd, outputs equal a local run's, interrupted runs resume
  without redoing finished jobs, bad profile values fail with a clear message;
- a `slurm` test of the real workflow (tests/slurm/workflow.yaml: every stage, 11 jobs)
  through the profile, interrupted and resumed, against a local `--cores 2` run.

The slurm tests need a controller that answers `scontrol ping`; CI starts a one-node
cluster with `tools/slurm/local_cluster.sh start`. On it they add LOCAL_CLUSTER_ARGS
(conftest.py) to the profile: the cpu-only overlay, at most 2 threads, fast status checks.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from slurm_support import (
    LOCAL_CLUSTER_ARGS,
    REPO,
    TOY,
    Snakemake,
    copy_repo,
)
from snakemake_output import job_stats

GPU_RULES = {"embed", "train", "bench", "finetune", "embed_finetuned", "finetune_curve"}
TOY_JOBS = {"prepare": 2, "embed": 2, "train": 2, "bench": 2, "report": 1}


# --- parsing snakemake's output ------------------------------------------------------


def job_blocks(log: str) -> list[dict]:
    """The job descriptions snakemake prints ('rule X:' blocks) as dicts.

    Keys: rule, local, jobid, output (list), wildcards, resources (dict of str), threads.
    """
    blocks: list[dict] = []
    cur: dict | None = None
    for line in log.splitlines():
        m = re.match(r"^(local)?rule (\w+):$", line)
        if m:
            cur = {
                "rule": m.group(2),
                "local": bool(m.group(1)),
                "output": [],
                "resources": {},
                "wildcards": "",
            }
            blocks.append(cur)
            continue
        if cur is None or not line.startswith("    "):
            if line.strip() and not line.startswith(" "):
                cur = None
            continue
        key, _, value = line.strip().partition(": ")
        if key == "output":
            cur["output"] = [p.strip() for p in value.split(",")]
        elif key == "jobid":
            cur["jobid"] = int(value)
        elif key == "wildcards":  # as the plugin names log dirs: values joined by _
            values = [kv.split("=", 1)[1] for kv in re.split(r", (?=\w+=)", value)]
            cur["wildcards"] = "_".join(values).replace("/", "_")
        elif key == "threads":
            cur["threads"] = int(value)
        elif key == "resources":
            cur["resources"] = dict(
                item.split("=", 1) for item in re.split(r", (?=\w+=)", value) if "=" in item
            )
    return blocks


def finished_outputs(log: str) -> set[str]:
    """Outputs of the jobs a run reported as finished."""
    by_id = {b["jobid"]: b for b in job_blocks(log) if "jobid" in b}
    done = {int(j) for j in re.findall(r"Finished jobid: (\d+)", log)}
    return {o for j in done if j in by_id for o in by_id[j]["output"]}


def tree(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def mtimes(root: Path, rels) -> dict[str, int]:
    return {r: (root / r).stat().st_mtime_ns for r in rels if (root / r).exists()}


def assert_not_redone(log: str, done: set[str]) -> None:
    """No job of a resumed run writes an output that the interrupted run had finished."""
    redone = {o for b in job_blocks(log) for o in b["output"]} & done
    assert not redone, f"redone after resume: {sorted(redone)}"


def queued(run_ids: list[str]) -> list[str]:
    """Jobs of these snakemake runs that SLURM still has pending or running."""
    out = []
    for run_id in run_ids:
        proc = subprocess.run(
            ["squeue", "-h", "--name", run_id, "-t", "PENDING,RUNNING,COMPLETING", "-o", "%i"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        out += proc.stdout.split()
    return out


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"snakemake exited (rc={proc.returncode}) before {what}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def profile_yaml(*parts: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / "slurm" / Path(*parts)).read_text())


# --- the profile, no cluster needed --------------------------------------------------


def test_profile_is_reachable_as_slurm() -> None:
    link = REPO / "slurm"
    assert link.is_symlink(), "the repo root must hold the symlink slurm -> profiles/slurm"
    assert link.resolve() == (REPO / "profiles" / "slurm").resolve()
    base = profile_yaml("config.yaml")
    assert base["executor"] == "slurm"
    assert set(base["set-resources"]) == GPU_RULES
    rules = {
        m.group(1)
        for smk in (REPO / "workflow" / "rules").glob("*.smk")
        for m in re.finditer(r"^rule (\w+):", smk.read_text(), re.M)
    }
    assert rules >= GPU_RULES, GPU_RULES - rules  # every GPU block names a real rule
    for rule in GPU_RULES:
        assert base["set-resources"][rule]["gpu"] >= 1
    overlay = profile_yaml("cpu-only", "config.yaml")
    assert set(overlay["set-resources"]) == set(base["set-resources"])
    assert all(v["gpu"] == 0 for v in overlay["set-resources"].values())
    assert set(overlay) == {"set-resources"}, "the overlay must change nothing but the GPU block"


def test_min_job_age_covers_status_checks() -> None:
    """squeue forgets finished jobs after MinJobAge; the plugin needs >= 3 x init seconds."""
    init = profile_yaml("config.yaml")["slurm-init-seconds-before-status-checks"]
    conf = (REPO / "tools" / "slurm" / "slurm.conf.template").read_text()
    min_job_age = int(re.search(r"^MinJobAge=(\d+)", conf, re.M).group(1))
    assert min_job_age >= 3 * init
    assert profile_yaml("config.yaml")["slurm-status-command"] == "squeue"


def test_dry_run_prints_slurm_resources(toy: Path, snakemake: Snakemake) -> None:
    run = snakemake(["--profile", "slurm", "-n"], toy, toy / "dry.log", timeout=120)
    assert run.returncode == 0, run.log
    assert "Using profile slurm" in run.log
    blocks = [b for b in job_blocks(run.log) if b["rule"] != "all"]
    assert {b["rule"] for b in blocks} == set(TOY_JOBS)
    for b in blocks:
        res = b["resources"]
        assert {"slurm_partition", "slurm_account", "runtime", "mem_mb"} <= set(res), b
        if b["rule"] in GPU_RULES:
            assert res["gpu"] == "1" and res["slurm_partition"] == "gpu", b
        else:
            assert "gpu" not in res and res["slurm_partition"] == "", b

    cpu = snakemake(
        ["--profile", "slurm", "--profile", "slurm/cpu-only", "-n"], toy, toy / "cpu.log",
        timeout=120,
    )  # fmt: skip
    assert cpu.returncode == 0, cpu.log
    for b in job_blocks(cpu.log):
        if b["rule"] in GPU_RULES:
            assert b["resources"]["gpu"] == "0", b
            assert b["resources"]["slurm_partition"] == "", b


# --- the toy workflow on a real SLURM cluster ----------------------------------------


def toy_run(snakemake: Snakemake, toy: Path, name: str, *extra: str, timeout=600):
    return snakemake([*LOCAL_CLUSTER_ARGS, *extra], toy, toy / f"{name}.log", timeout=timeout)


def write_slow(toy: Path, **seconds: int) -> str:
    path = toy / "slow.yaml"
    path.write_text(yaml.safe_dump({"slow": seconds}))
    return str(path)


@pytest.mark.slurm
def test_toy_runs_every_job_through_slurm(toy: Path, tmp_path: Path, snakemake: Snakemake) -> None:
    run = toy_run(snakemake, toy, "slurm")
    assert run.returncode == 0, run.log
    assert job_stats(run.log) == {**TOY_JOBS, "all": 1}

    # every job ran inside a SLURM job, with the venv's python, and left its SLURM log
    slurm_logs = sorted((toy / ".snakemake" / "slurm_logs").rglob("*.log"))
    ids = set()
    for rule, n in TOY_JOBS.items():
        logs = [p for p in slurm_logs if p.relative_to(toy).parts[2] == f"rule_{rule}"]
        assert len(logs) == n, (rule, logs)
        ids |= {p.stem for p in logs}
    job_logs = sorted((toy / "logs").rglob("*.log"))
    assert len(job_logs) == sum(TOY_JOBS.values())
    for log in job_logs:
        where = dict(kv.split("=", 1) for kv in log.read_text().split())
        assert where["slurm_job_id"] in ids, (log, where)
        assert Path(where["python_prefix"]).resolve() == Path(sys.prefix).resolve()
        if "embed" in log.parts:  # threads: 4, capped by --max-threads 2
            assert where["cpus"] == "2"
    assert "has been submitted with SLURM jobid" in run.log

    # the same outputs as a plain local run
    local = tmp_path / "local"
    shutil.copytree(TOY, local)
    lrun = snakemake(["--cores", "2"], local, tmp_path / "local.log", timeout=300)
    assert lrun.returncode == 0, lrun.log
    assert all("slurm_job_id= " in p.read_text() for p in (local / "logs").rglob("*.log"))
    a, b = tree(toy / "results"), tree(local / "results")
    assert a.keys() == b.keys()
    for rel in a:
        assert a[rel].read_bytes() == b[rel].read_bytes(), rel


def assert_partly_done(toy: Path, done: set[str], log: str) -> None:
    """The interrupted run got past data and at least one embed, and no train finished.

    Which embed finished first depends on how slurmctld orders the two queued jobs on a
    two-CPU node, so the test asks for one of them, not for a particular one.
    """
    assert {"results/data/a.txt", "results/data/b.txt"} <= done, log
    assert done & {"results/emb/a.txt", "results/emb/b.txt"}, log
    assert not any((toy / f"results/model/{ds}.txt").exists() for ds in "ab"), log


@pytest.mark.slurm
def test_toy_resumes_after_ctrl_c(toy: Path, snakemake: Snakemake) -> None:
    """Ctrl-C cancels the run's SLURM jobs; the rerun redoes only what had not finished."""
    slow = write_slow(toy, train=20)
    t0 = time.monotonic()
    proc = snakemake.start([*LOCAL_CLUSTER_ARGS, "--configfile", slow], toy, toy / "1.log")
    wait_for(
        lambda: "rule train:" in (toy / "1.log").read_text()
        and "has been submitted" in (toy / "1.log").read_text().split("rule train:", 1)[1],
        240, "a train job to be submitted", proc,
    )  # fmt: skip
    time.sleep(3)
    Snakemake.interrupt(proc, grace=240)
    first = snakemake.finish(proc, toy / "1.log", 10, t0)
    assert first.returncode != 0
    assert queued(first.slurm_run_ids) == [], "Ctrl-C must cancel the run's SLURM jobs"
    done = finished_outputs(first.log)
    assert_partly_done(toy, done, first.log)
    before = mtimes(toy, done)

    second = toy_run(snakemake, toy, "2", "--configfile", slow)
    assert second.returncode == 0, second.log
    assert mtimes(toy, done) == before, "finished jobs were redone"
    assert_not_redone(second.log, done)
    assert "train" in job_stats(second.log)
    assert (toy / "results/report.txt").exists()


@pytest.mark.slurm
def test_toy_resumes_after_sigkill(toy: Path, snakemake: Snakemake) -> None:
    """After a hard kill: scancel the orphans, --unlock, rerun (docs/cluster.md)."""
    slow = write_slow(toy, train=20)
    t0 = time.monotonic()
    proc = snakemake.start([*LOCAL_CLUSTER_ARGS, "--configfile", slow], toy, toy / "1.log")
    wait_for(
        lambda: "rule train:" in (toy / "1.log").read_text()
        and "has been submitted" in (toy / "1.log").read_text().split("rule train:", 1)[1],
        240, "a train job to be submitted", proc,
    )  # fmt: skip
    os.killpg(proc.pid, signal.SIGKILL)
    first = snakemake.finish(proc, toy / "1.log", 30, t0)
    assert first.returncode == -signal.SIGKILL
    orphans = queued(first.slurm_run_ids)
    assert orphans, "the killed run's train jobs should still be in SLURM"
    done = finished_outputs(first.log)
    assert_partly_done(toy, done, first.log)
    before = mtimes(toy, done)

    for run_id in first.slurm_run_ids:
        subprocess.run(["scancel", "--name", run_id], check=True, timeout=30)
    wait_for(lambda: not queued(first.slurm_run_ids), 60, "scancel to take effect")
    unlock = snakemake([*LOCAL_CLUSTER_ARGS, "--unlock"], toy, toy / "unlock.log", timeout=120)
    assert unlock.returncode == 0, unlock.log
    second = toy_run(snakemake, toy, "2", "--configfile", slow)
    assert second.returncode == 0, second.log
    assert mtimes(toy, done) == before, "finished jobs were redone"
    assert_not_redone(second.log, done)
    assert "train" in job_stats(second.log)
    assert (toy / "results/report.txt").exists()


def bad_profile(toy: Path, **default_resources) -> list[str]:
    """A site's profile with a mistake in it, layered over the committed one."""
    bad = toy / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text(yaml.safe_dump({"default-resources": default_resources}))
    return ["--profile", str(bad)]


@pytest.mark.slurm
def test_unknown_partition_fails_clearly(toy: Path, snakemake: Snakemake) -> None:
    extra = bad_profile(toy, slurm_partition="nosuchpartition", mem_mb=1000, runtime=10)
    run = toy_run(snakemake, toy, "bad", *extra, timeout=300)
    assert run.returncode != 0
    assert "invalid partition specified: nosuchpartition" in run.log
    assert "SLURM sbatch failed" in run.log
    assert not (toy / "results").exists()


@pytest.mark.slurm
def test_non_numeric_mem_mb_fails_clearly(toy: Path, snakemake: Snakemake) -> None:
    extra = bad_profile(toy, slurm_partition="", mem_mb="lots", runtime=10)
    run = toy_run(snakemake, toy, "bad", *extra, timeout=300)
    assert run.returncode != 0
    assert "Resource 'mem_mb'" in run.log and "'lots'" in run.log, run.log
    assert "has been submitted" not in run.log


@pytest.mark.slurm
def test_gpu_block_reaches_sbatch(toy: Path, snakemake: Snakemake) -> None:
    """Without the cpu-only overlay the GPU rules ask sbatch for a GPU partition and a
    GPU (which this GPU-less test cluster refuses); the CPU rules ask for neither."""
    run = snakemake(
        ["--profile", "slurm", "--max-threads", "2",
         "--slurm-init-seconds-before-status-checks", "2", "--verbose", "results/emb/a.txt"],
        toy, toy / "gpu.log", timeout=300,
    )  # fmt: skip
    assert run.returncode != 0
    calls = re.findall(r"sbatch call: (sbatch .*)", run.log)
    prepare = [c for c in calls if "--comment rule_prepare" in c]
    embed = [c for c in calls if "--comment rule_embed" in c]
    assert prepare and embed, run.log
    assert all("--gpus" not in c and " -p " in c for c in prepare)
    assert all(" -p gpu " in c and "--gpus=1" in c for c in embed)
    assert (toy / "results/data/a.txt").exists(), "the CPU rule runs on the default partition"
    assert "SLURM sbatch failed" in run.log


# --- the real workflow (config/test.yaml) ---------------------------------------------

TEST_CONFIG = ["--configfile", "config/test.yaml"]
# The workflow run through SLURM: every stage of the real DAG, 11 jobs (tests/slurm/workflow.yaml)
WORKFLOW_CONFIG = ["--configfile", "tests/slurm/workflow.yaml"]


def test_profile_rules_exist_in_workflow(
    tmp_path: Path, snakemake: Snakemake, snapshot: Path
) -> None:
    """The profiles address rules by name: a renamed rule would silently lose its GPU."""
    repo = repo_copy(snapshot, tmp_path / "repo")
    run = snakemake(["--list-rules", *TEST_CONFIG], repo, tmp_path / "rules.log", timeout=120)
    assert run.returncode == 0, run.log
    rules = set(run.log.split())
    assert rules >= GPU_RULES, f"profiles/slurm names {sorted(GPU_RULES - rules)}: not rules"


def test_workflow_dry_run_prints_slurm_resources(
    tmp_path: Path, snakemake: Snakemake, snapshot: Path
) -> None:
    repo = repo_copy(snapshot, tmp_path / "repo")
    run = snakemake(["--profile", "slurm", "-n", *TEST_CONFIG], repo, tmp_path / "n.log", 300)
    assert run.returncode == 0, run.log
    blocks = [b for b in job_blocks(run.log) if b["rule"] != "all"]
    assert blocks
    for b in blocks:
        res = b["resources"]
        assert "runtime" in res and "mem_mb" in res and "slurm_partition" in res, b
        if b["rule"] in GPU_RULES:
            assert res.get("gpu") == "1" and res["slurm_partition"] == "gpu", b
        else:
            assert res.get("gpu", "0") == "0", b


# Values that measure the machine or the moment, not the computation.
VOLATILE = re.compile(
    r"(second|time|_ms$|^ms|^us/|_s$| s\b|/s$|per_s|qps|throughput|speed|date|host|hardware|device|"
    r"node|pid|wall|elapsed|started|finished|path|dir|root|version|cpu|gpu|memory|"
    r"threads|slurm|created|timestamp|_at$|utc)",
    re.I,
)
DATETIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def same_json(a, b, where: str, roots: tuple[str, str]) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            if not VOLATILE.search(str(k)):
                same_json(a[k], b[k], f"{where}.{k}", roots)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_json(x, y, f"{where}[{i}]", roots)
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6) or (
            math.isnan(a) and math.isnan(b)
        ), f"{where}: {a} != {b}"
    elif isinstance(a, str) and DATETIME.match(a):
        assert isinstance(b, str) and DATETIME.match(b), where
    elif isinstance(a, str):
        assert a.replace(roots[0], "<ROOT>") == b.replace(roots[1], "<ROOT>"), where
    else:
        assert a == b, where


def same_arrays(a: np.ndarray, b: np.ndarray, where: str) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, where
    if a.dtype.kind in "fc":
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=where)
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


def assert_same_results(slurm_root: Path, local_root: Path) -> None:
    """Same files under results/; same numbers (up to float noise) where they are data."""
    a, b = tree(slurm_root / "results"), tree(local_root / "results")
    assert a.keys() == b.keys()
    roots = (str(slurm_root), str(local_root))
    for rel, pa in a.items():
        pb = b[rel]
        if pa.suffix == ".npy":
            same_arrays(np.load(pa), np.load(pb), rel)
        elif pa.suffix == ".npz":
            with np.load(pa) as za, np.load(pb) as zb:
                assert set(za.files) == set(zb.files), rel
                for k in za.files:
                    same_arrays(za[k], zb[k], f"{rel}:{k}")
        elif pa.suffix == ".safetensors":
            from safetensors.numpy import load_file

            ta, tb = load_file(pa), load_file(pb)
            assert ta.keys() == tb.keys(), rel
            for k in ta:
                same_arrays(ta[k], tb[k], f"{rel}:{k}")
        elif pa.suffix == ".json":
            same_json(json.loads(pa.read_text()), json.loads(pb.read_text()), rel, roots)
        elif pa.suffix in {".csv", ".tsv"}:
            import pandas as pd

            sep = "," if pa.suffix == ".csv" else "\t"
            da, db = pd.read_csv(pa, sep=sep), pd.read_csv(pb, sep=sep)
            assert list(da.columns) == list(db.columns), rel
            keep = [c for c in da.columns if not VOLATILE.search(str(c))]
            pd.testing.assert_frame_equal(da[keep], db[keep], rtol=1e-4, atol=1e-6, obj=rel)
        # figures and rendered tables (.png/.pdf/.md/.tex) carry timings or timestamps:
        # that they exist on both sides is the check


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """One copy of the working tree for every real-workflow test of this module, so all
    of them (and the local baseline) run the same workflow and library code."""
    return copy_repo(tmp_path_factory.mktemp("snapshot") / "repo")


def repo_copy(snapshot: Path, dest: Path) -> Path:
    shutil.copytree(snapshot, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def local_baseline(snapshot: Path, tmp_path_factory) -> Path:
    """The real workflow run locally with --cores 2, once per module."""
    root = repo_copy(snapshot, tmp_path_factory.mktemp("local") / "repo")
    run = Snakemake()(["--cores", "2", *WORKFLOW_CONFIG], root, root.parent / "local.log", 900)
    assert run.returncode == 0, run.log[-5000:]
    return root


@pytest.mark.slurm
def test_workflow_on_slurm_resumes_and_matches_local(
    tmp_path: Path, snakemake: Snakemake, snapshot: Path, local_baseline: Path
) -> None:
    """tests/slurm/workflow.yaml through `--profile slurm`, interrupted with Ctrl-C once two jobs
    have finished and resumed: every job ran as a SLURM job, no finished job was redone,
    and the results equal the local `--cores 2` run's (one interrupted run plus its
    resumption costs about one full run, so this is one test)."""
    repo = repo_copy(snapshot, tmp_path / "repo")
    args = [*LOCAL_CLUSTER_ARGS, *WORKFLOW_CONFIG]
    log1 = tmp_path / "1.log"
    t0 = time.monotonic()
    proc = snakemake.start(args, repo, log1)
    wait_for(lambda: log1.read_text().count("Finished jobid") >= 2, 900, "two finished jobs", proc)
    Snakemake.interrupt(proc, grace=240)
    first = snakemake.finish(proc, log1, 10, t0)
    assert first.returncode != 0, "the run finished before it could be interrupted"
    assert queued(first.slurm_run_ids) == [], "Ctrl-C must cancel the run's SLURM jobs"
    done = finished_outputs(first.log)
    assert done
    before = mtimes(repo, done)

    second = snakemake(args, repo, tmp_path / "2.log", 1200)
    assert second.returncode == 0, second.log[-5000:]
    assert mtimes(repo, done) == before, "finished jobs were redone"
    assert_not_redone(second.log, done)

    # every job of both runs (but `localrules`) was submitted with sbatch and left its log
    for run in (first, second):
        jobs = [b for b in job_blocks(run.log) if b["rule"] != "all" and not b["local"]]
        finished = {int(j) for j in re.findall(r"Finished jobid: (\d+)", run.log)}
        submitted = {int(j) for j in re.findall(r"Job (\d+) has been submitted", run.log)}
        assert jobs and {b["jobid"] for b in jobs} & finished <= submitted
        for b in jobs:
            if b["jobid"] in finished:
                logs = repo / ".snakemake/slurm_logs" / f"rule_{b['rule']}" / b["wildcards"]
                assert list(logs.glob("*.log")), f"no SLURM log: {b['rule']} {b['wildcards']}"

    assert_same_results(repo, local_baseline)
