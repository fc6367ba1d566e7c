# Every target creates the environment first when it is missing (or out of date), so
# `make run` and `make test` each work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# faiss: the GPU build where nvidia-smi sees a GPU, else the CPU build (never both).
FAISS ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
LOCK := requirements/$(FAISS).txt
CORES ?= all

.PHONY: help setup run figures test test-fast lint format bench lock envs clean-results

help: ## list the targets
	@echo "csrbench: make <target> [PYTHON=python3.11] [CORES=all] [FAISS=cpu|gpu]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' \
		| awk -F'\t' '{ printf "  %-14s %s\n", $$1, $$2 }'

setup: $(VENV)/.installed-$(FAISS) ## create .venv from the lock, requirements/cpu.txt or gpu.txt (FAISS=)

$(VENV)/.installed-$(FAISS): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "csrbench needs $(PYTHON) (Python 3.11) on PATH; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed-*
	touch $@

run: setup ## snakemake on the default config, on CORES cores (default: all)
	$(BIN)/snakemake --cores $(CORES)

# The SLURM tests run wherever a controller answers (.ci/run starts one) and skip otherwise.
test: setup ## the whole test suite, as CI runs it
	$(BIN)/python -m pytest

test-fast: setup ## the tests without the end-to-end and SLURM runs
	$(BIN)/python -m pytest -m "not slow and not slurm"

lint: setup ## ruff, ruff format --check, snakefmt --check, snakemake --lint (CI runs it)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint

format: setup ## ruff --fix, ruff format, snakefmt
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt workflow

bench: setup ## embedding-extraction throughput (bench/extract_throughput.py)
	$(BIN)/python bench/extract_throughput.py

# Re-resolve the exact pins after editing pyproject.toml: one fresh venv, resolved with the
# CPU faiss, frozen, then faiss swapped for the GPU build and frozen again (the two wheels
# write the same package, so never both). `--all` keeps setuptools, the build backend, so
# that `pip install --no-build-isolation .` works offline in an environment made from the
# lock. Each file is written under a temporary name and renamed once complete.
LOCK_VENV := /tmp/csrbench-lock
FREEZE = $(LOCK_VENV)/bin/python -m pip freeze --all --exclude-editable | grep -v -i -E '^(pip==|csrbench)'
lock: ## re-resolve requirements/cpu.txt and gpu.txt from pyproject.toml, then envs/ (network)
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip setuptools
	$(LOCK_VENV)/bin/python -m pip install --quiet '.[cpu,dev]'
	{ echo "# Exact set installed by \`make setup\` on a CPU machine (Python 3.11, x86_64)."; \
	  echo "# \`make lock\` rewrites this file from pyproject.toml's ranges: do not edit it by hand."; \
	  $(FREEZE); } > requirements/cpu.txt.tmp
	mv requirements/cpu.txt.tmp requirements/cpu.txt
	$(LOCK_VENV)/bin/python -m pip uninstall --quiet --yes faiss-cpu
	$(LOCK_VENV)/bin/python -m pip install --quiet '.[gpu,dev]'
	{ echo "# Exact set installed by \`make setup\` where nvidia-smi finds a GPU (Python 3.11, x86_64)."; \
	  echo "# \`make lock\` rewrites this file: cpu.txt with faiss-gpu (and the CUDA 12 runtime it"; \
	  echo "# links) for faiss-cpu; the two faiss wheels write the same package folder, so never both."; \
	  $(FREEZE); } > requirements/gpu.txt.tmp
	mv requirements/gpu.txt.tmp requirements/gpu.txt
	rm -rf $(LOCK_VENV)
	$(PYTHON) tools/envs_from_lock.py

envs: ## write envs/csrbench.yaml (conda, for --sdm conda) from requirements/cpu.txt
	$(PYTHON) tools/envs_from_lock.py

# Run outputs are exactly what .gitignore keeps out of git: embeddings, codes, the models'
# weights, logs/, benchmarks/ and Snakemake's metadata. The committed reference results stay
# (results/metrics, bench, scaling, tables, figures, and each model's summary.json and
# train.tsv), and so do result files of your own runs that git does not ignore (commit or
# delete those yourself). Snakemake's conda environments (.snakemake/conda) stay too:
# they take long to build and hold no result.
clean-results: ## delete run outputs (embeddings, codes, weights, logs, .snakemake); keep what git tracks in results/
	rm -rf results/embeddings results/codes results/tests logs benchmarks
	[ ! -d results/models ] || find results/models -type f ! -name summary.json ! -name train.tsv -delete
	[ ! -d results/models ] || find results/models -mindepth 1 -type d -empty -delete
	[ ! -d .snakemake ] || find .snakemake -mindepth 1 -maxdepth 1 \
		! -name conda ! -name conda-archive -exec rm -rf {} +

# Every table and figure from the result JSON files under results/ alone (seconds; plans
# no embedding, training or evaluation job, whatever is missing upstream).
figures: setup ## every table and figure from the result files under results/
	$(BIN)/snakemake figures --cores $(CORES)
