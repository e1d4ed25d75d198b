# Two commands do everything on a fresh machine: `make demo` and `make test`.
# The venv is built from requirements.lock (resolved by uv), torch==2.13.0 first so that pip takes the
# local CPU wheel instead of pulling CUDA packages from the registry. Bytecode is compiled at install: with
# PYTHONDONTWRITEBYTECODE set (as on this machine and in CI) every CLI run and Beam worker otherwise compiled
# the sources of Beam, GE and their dependencies anew, about 10 s each.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint fmt bench lock clean browser

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.8
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python --find-links /opt/wheels requirements.lock
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

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

lock:
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --find-links /opt/wheels -o requirements.lock

clean:
	rm -rf $(VENV) demo-out
