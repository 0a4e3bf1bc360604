# dataprep_assets: `make demo` sets everything up and materializes every pipeline; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
export DAGSTER_HOME := $(CURDIR)/var/dagster_home
export DATAPREP_STORE_ROOT ?= $(CURDIR)/var/store
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# Installed packages get their bytecode at install time: where PYTHONDONTWRITEBYTECODE is set (as on some CI
# images), every process would otherwise compile Dagster, pandas... from source again (~2 s CPU per process).
export UV_COMPILE_BYTECODE := 1

TORCH_VERSION ?= 2.13.0

.PHONY: setup torch clip system-deps demo test lint ui watch bench interop validate lock clean

$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv sync --frozen --inexact --quiet
	touch $@

# The local instance config is the top-level dagster.yaml (part of the project's layout); it is copied where
# Dagster reads it, $DAGSTER_HOME/dagster.yaml (Dagster may note that the copy in the working folder is not read).
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

setup: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml  ## create .venv from uv.lock and a local Dagster instance
	@$(PY) -m compileall -q -j 0 dataprep_assets dataprep_assets_tests benchmarks >/dev/null || true

$(VENV)/.torch: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION)
	touch $@

torch: $(VENV)/.torch  ## optional PyTorch (ResNet-50 / CLIP extractors, the PyTorch Dataset); tests need it

$(VENV)/.clip: $(VENV)/.installed
	$(VENV)/bin/uv sync --frozen --inexact --quiet --extra clip
	touch $@

clip: $(VENV)/.clip torch  ## optional CLIP encoder (transformers + torch) for perva_retrieval; tests need it

# Debian packages the deployment tests start for real: a PostgreSQL server (instance storage) and
# headless Chromium (the UI test). Installed with apt-get only when missing (sudo unless root).
SYSTEM_PACKAGES := postgresql chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:  ## Debian packages the tests need (postgresql, chromium), installed when missing
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

demo: setup  ## generate sample data, materialize every asset, evaluate every check, print a summary
	$(PY) -m dataprep_assets.demo

test: setup torch clip system-deps  ## the whole test suite
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: setup torch clip  ## ruff (format check + lint) and pyright (basic, over the optional torch/CLIP code too)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pyright

# Default SIGINT/SIGTERM handlers before exec: a server started with SIGINT ignored (a background job of a
# non-interactive shell) would ignore SIGTERM too, since Dagster maps SIGTERM to SIGINT's handler.
WITH_DEFAULT_SIGNALS := $(PY) -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); \
	signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])'
# `dg dev` loads the project from pyproject.toml's [tool.dg] (the same code location as workspace.yaml).
DEV := $(WITH_DEFAULT_SIGNALS) $(VENV)/bin/dg dev --host 127.0.0.1 --port 3000

ui: setup  ## the Dagster UI on http://127.0.0.1:3000 over the demo's data and instance (automation on)
	$(DEV)

watch: setup  ## `make ui` with every upload sensor on: drop files under var/store/raw/<pipeline>/ and watch them flow
	DATAPREP_UPLOAD_SENSORS=running $(DEV)

validate: setup  ## dg check defs: every definition loads
	$(VENV)/bin/dg check defs

# Datumaro and FiftyOne pin older pandas, Pillow, starlette and OpenCV than this project, so they live in their own
# venv: the README's "Open the outputs in the tools you use", the card test that opens the COCO in Datumaro, and the
# COCO benchmark's peer all use this one.
INTEROP_PACKAGES := 'datumaro[cli]==1.13.12' fiftyone==1.22.1
var/interop_venv/.installed: $(VENV)/.installed
	$(VENV)/bin/uv venv var/interop_venv --python 3.11
	$(VENV)/bin/uv pip install --quiet --python var/interop_venv/bin/python $(INTEROP_PACKAGES)
	touch $@

interop: var/interop_venv/.installed  ## Datumaro + FiftyOne in their own venv (var/interop_venv)

bench: setup torch interop  ## every benchmark in one run, logged to var/bench/ (BENCH_ARGS=--quick for smoke sizes)
	$(PY) -m benchmarks $(BENCH_ARGS)

lock:  ## re-resolve uv.lock after editing pyproject.toml, and export requirements.txt for pip users
	$(VENV)/bin/uv lock
	$(VENV)/bin/uv export --frozen --format requirements-txt --all-groups --no-emit-project --no-hashes -o requirements.txt

clean:
	rm -rf var
