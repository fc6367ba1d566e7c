"""Print where a toy job ran: its SLURM job id (empty outside SLURM), python, CPUs, GPUs."""

import os
import sys

env = os.environ
print(
    f"slurm_job_id={env.get('SLURM_JOB_ID', '')}",
    f"python_prefix={sys.prefix}",
    f"cpus={env.get('SLURM_CPUS_PER_TASK', '')}",
    f"gpus={env.get('SLURM_GPUS', env.get('SLURM_JOB_GPUS', ''))}",
)
