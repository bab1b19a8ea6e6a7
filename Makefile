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

.PHONY: install vulkan test demo bench clean help
help:
	@echo "make install  - .venv with lapa-bench[dev] (+ lavapipe Vulkan if no GPU driver)"
	@echo "make test     - the test suite (real ManiSkill env, ~10 min on 2 CPU cores)"
	@echo "make demo     - scripted oracle vs random on the 4 SIMPLER tasks, prints the table"
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
	$(BIN)/lapa-bench eval --policy scripted --tasks all --episodes 3 --seeds 0 --out runs/demo/scripted --no-progress
	$(BIN)/lapa-bench eval --policy random --tasks all --episodes 3 --seeds 0 --out runs/demo/random --no-progress
	$(BIN)/lapa-bench report runs/demo/scripted runs/demo/random --out runs/demo/report

bench: install
	$(BIN)/python benchmarks/harness_overhead.py

clean:
	rm -rf runs/demo .pytest_cache
