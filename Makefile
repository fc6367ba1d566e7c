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

.PHONY: setup run figures test test-fast lint format bench lock clean-results

setup: $(VENV)/.installed-$(FAISS)

$(VENV)/.installed-$(FAISS): $(LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "csrbench needs $(PYTHON) (Python 3.11) on PATH; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed-*
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)

# The SLURM tests run wherever a controller answers (.ci/run starts one) and skip otherwise.
test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not slurm"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt workflow

bench: setup
	$(BIN)/python bench/extract_throughput.py

# Re-resolve the exact pins after editing pyproject.toml (CPU flavour; gpu.txt swaps faiss).
lock:
	rm -rf /tmp/csrbench-lock && $(PYTHON) -m venv /tmp/csrbench-lock
	/tmp/csrbench-lock/bin/pip install --quiet '.[cpu,dev]'
	/tmp/csrbench-lock/bin/pip freeze --exclude-editable | grep -v '^csrbench' > requirements/cpu.freeze
	@echo "wrote requirements/cpu.freeze: review, then replace the pins in requirements/cpu.txt and gpu.txt"

# Every table and figure from the result JSON files under results/ alone (seconds; plans
# no embedding, training or evaluation job, whatever is missing upstream).
figures: setup
	$(BIN)/snakemake figures --cores $(CORES)
