"""Reading what Snakemake prints, for the workflow, report and SLURM tests alike."""

from __future__ import annotations


def job_stats(text: str) -> dict[str, int]:
    """The first 'Job stats' table of a run or dry run as {rule: count}; {} when Snakemake
    printed none (nothing to be done)."""
    lines = text.splitlines()
    if "Job stats:" not in lines:
        return {}
    jobs = {}
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs
