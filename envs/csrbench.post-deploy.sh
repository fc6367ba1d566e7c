#!/usr/bin/env bash
# Snakemake runs this inside the freshly created conda env, from the directory the
# workflow was started in (the repository root): install this checkout's csrbench.
set -euo pipefail
python -m pip install --no-deps --editable .
