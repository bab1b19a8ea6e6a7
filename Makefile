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

.PHONY: install vulkan test demo mini bench lerobot-venv clean help
help:
	@echo "make install  - .venv with lapa-bench[dev] (+ lavapipe Vulkan if no GPU driver)"
	@echo "make test     - the test suite (real ManiSkill env; ~10-20 min on 2 CPU cores)"
	@echo "make demo     - quickstart: the whole pipeline at toy size (smoke run, ~20 min), prints the table"
	@echo "make mini     - the mini LAPA benchmark (configs/mini.yaml; hours: run it in the background)"
	@echo "make bench    - harness overhead benchmark"
	@echo "make lerobot-venv - .venv-lerobot with LeRobot 0.3.3 (its v2.1 loader), for the interoperability test"

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

# LeRobot's last v2.1 release pins torch<2.8 / torchvision<0.23, which cannot share .venv with the
# pinned CPU torch: a separate venv (torch 2.14.1 + torchvision 0.29.1, LeRobot without its pins) runs
# scripts/lerobot_interop.py for tests/test_collect.py::test_lerobot_loads_a_collected_dataset, and
# scripts/lerobot_policy.py (train an ACT policy with LeRobot's code, serve it to `--policy remote`).
# (Where these torch wheels are not on disk, pip downloads a CUDA build of several GB.)
LEROBOT_VENV ?= .venv-lerobot
lerobot-venv: $(LEROBOT_VENV)/.installed

$(LEROBOT_VENV)/.installed:
	@test -x $(LEROBOT_VENV)/bin/python || $(PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(LEROBOT_VENV)/bin/python -m pip install -q --no-deps lerobot==0.3.3
	$(LEROBOT_VENV)/bin/python -m pip install -q "datasets>=2.19,<=3.6.0" "huggingface-hub>=0.34.2" jsonlines \
	    "av>=14.2.0" draccus==0.10.0 einops packaging "imageio[ffmpeg]" termcolor "deepdiff<9" "gymnasium<1.0" \
	    pandas pyarrow pyserial safetensors
	@# scripts/lerobot_policy.py serves a LeRobot policy with lapa-bench's protocol (numpy + msgpack + websockets)
	$(LEROBOT_VENV)/bin/python -m pip install -q websockets msgpack opencv-python-headless
	$(LEROBOT_VENV)/bin/python -m pip install -q --no-deps torchcodec==0.17.0  # LeRobot's video decoder
	@# torchcodec decodes through the system's FFmpeg libraries (Debian: libavcodec59 & co.)
	@ldconfig -p | grep -q libavcodec.so || { [ "$$(id -u)" = 0 ] && apt-get install -y -q --no-install-recommends \
	    libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8 >/dev/null; } \
	    || { echo "install FFmpeg's libraries (Debian: apt-get install libavcodec59 libavformat59 libavdevice59)"; exit 1; }
	@touch $@

clean:
	rm -rf runs/quickstart .pytest_cache
