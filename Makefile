# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The venv is built from requirements.lock, resolved by uv against PyPI alone, so it installs on any Linux x86_64
# with Python 3.11 (torch 2.13.0 from PyPI there, with its CUDA packages). Where a folder of local wheels holds
# the CPU build of torch (LOCAL_WHEELS, ../shared/wheels on the team's machines and in CI), that wheel is taken
# instead (2.13.0+cpu satisfies the pin torch==2.13.0) and the CUDA-only packages of the lock are left out, so
# no several-GB download happens where no GPU is. Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE
# set (as on this machine and in CI) every CLI run and Beam worker otherwise compiled the sources of Beam, GE
# and their dependencies anew, about 10 s each.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCAL_WHEELS ?= ../shared/wheels
CPU_TORCH := $(wildcard $(LOCAL_WHEELS)/torch-2.13.0+cpu-*.whl)
# What torch's CUDA build alone pulls in: not installed beside the CPU wheel.
CUDA_ONLY := ^(nvidia-|cuda-|triton==)

.PHONY: install demo test lint fmt bench lock lock-check clean browser

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.8
ifneq ($(CPU_TORCH),)
	grep -vE '$(CUDA_ONLY)' requirements.lock > $(VENV)/requirements.cpu.lock
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python --find-links $(LOCAL_WHEELS) $(VENV)/requirements.cpu.lock
else
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
endif
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the report's browser test (Debian package; we are root here and in CI).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

demo: $(STAMP)
	$(BIN)/corpus-etl demo --output demo-out

lint: $(STAMP)
	$(BIN)/ruff check etl transforms expectations dags docker tests bench
	$(BIN)/ruff format --check etl transforms expectations dags docker tests bench

fmt: $(STAMP)
	$(BIN)/ruff format etl transforms expectations dags docker tests bench
	$(BIN)/ruff check --fix etl transforms expectations dags docker tests bench

test: $(STAMP) browser lint lock-check
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

# The lock is resolved against PyPI alone (no local wheels), so every version it names is one PyPI serves.
lock:
	$(BIN)/uv pip compile -q requirements.in --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements.lock

# Every pinned version is served by PyPI for Linux x86_64 and Python 3.11 (fails on a local build such as +cpu).
lock-check: $(STAMP)
	$(BIN)/uv pip compile -q --no-deps --python-version 3.11 --python-platform x86_64-manylinux_2_28 requirements.lock -o /dev/null

clean:
	rm -rf $(VENV) demo-out
