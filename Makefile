# Two set-up commands: `make run` (install everything, start the app) and `make test`
# (install everything, run the whole suite). `.ci/run` calls `make test`.
# Everything installs into the project's own .venv (no system site-packages), so no package that
# happens to be installed globally can hide a missing requirement.
SYSTEM_PYTHON ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip
HOST ?= 127.0.0.1
PORT ?= 8188
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv install install-dev run demo test bench

$(PYTHON):
	$(SYSTEM_PYTHON) -m venv $(VENV)

venv: $(PYTHON)

install: venv
	$(PIP) install -q --disable-pip-version-check -r requirements.txt

install-dev: install
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@if [ -f web/package.json ]; then cd web && npm ci --silent --no-audit --no-fund; fi

# `make run HOST=0.0.0.0 PORT=9000 ARGS="--auth-token T"`: demo's closing hint names the address serve uses.
run: install
	@if [ -f web/package.json ]; then cd web && npm ci --silent --no-audit --no-fund; fi
	$(PYTHON) main.py demo --listen $(HOST) --port $(PORT)
	$(PYTHON) main.py serve --listen $(HOST) --port $(PORT) $(ARGS)

demo: install
	$(PYTHON) main.py demo

test: install-dev
	@echo "python: $$($(PYTHON) -c 'import sys; print(sys.executable, sys.prefix)')"
	$(PYTHON) -m pytest -q tests $(PYTEST_ARGS)

bench: install
	$(PYTHON) bench/executor.py
