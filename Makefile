# lapa-bench: `make install`, `make test`, `make demo` (each works alone on a fresh machine).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first and pinned, so that nothing pulls a multi-GB CUDA build.
# CUDA users: `make install TORCH_SPEC="torch==2.13.0 --index-url <CUDA wheel index>"`.
TORCH_SPEC ?= torch==2.13.0

# Use the shared SIMPLER asset pack when it sits beside the repo and MS_ASSET_DIR is not set.
ifeq ($(MS_ASSET_DIR),)
  ifneq ($(wildcard ../shared/simpler-assets/data),)
    export MS_ASSET_DIR := $(abspath ../shared/simpler-assets)
  endif
endif

.PHONY: install vulkan test demo mini bench clean help
help:
	@echo "make install  - .venv with lapa-bench[dev] (+ lavapipe Vulkan if no GPU driver)"
	@echo "make test     - the test suite (real ManiSkill env, ~10 min on 2 CPU cores)"
	@echo "make demo     - quickstart: the whole pipeline at toy size (smoke run, ~20 min), prints the table"
	@echo "make mini     - the mini LAPA benchmark (configs/mini.yaml; hours: run it in the background)"
	@echo "make bench    - harness overhead benchmark"

install: $(VENV)/.installed vulkan

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

vulkan:
	@bash scripts/install_vulkan.sh

test: install
	$(BIN)/python -m pytest -q tests

demo: install
	$(BIN)/lapa-bench pipeline configs/quickstart.yaml

mini: install
	$(BIN)/lapa-bench pipeline configs/mini.yaml

bench: install
	$(BIN)/python benchmarks/harness_overhead.py

clean:
	rm -rf runs/quickstart .pytest_cache
