"""Put this checkout's src/ first on sys.path, so that a rule script runs the csrbench
next to it, whether or not (and whichever) csrbench the job's Python has installed.

Every script in scripts/ imports this module before csrbench: Snakemake appends a script's
own directory to sys.path before running it, so `import _srcpath` finds this file, and
ruff's import sorting keeps it (a third-party module to ruff) above the first-party
csrbench imports. Exporting PYTHONPATH
from the Snakefile would not reach every job: Snakemake deletes PYTHONPATH from the
environment of jobs that run in a conda env (`--sdm conda`).
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
