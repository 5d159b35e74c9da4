# Two set-up commands: `make run` (install everything, start the app) and `make test`
# (install everything, run the whole suite). `.ci/run` calls `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-dev run demo test bench

install:
	$(PIP) install -q -r requirements.txt

install-dev: install
	$(PIP) install -q -r requirements-dev.txt
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@if [ -f web/package.json ]; then cd web && npm ci --silent --no-audit --no-fund; fi

run: install
	@if [ -f web/package.json ]; then cd web && npm ci --silent --no-audit --no-fund; fi
	$(PYTHON) main.py demo
	$(PYTHON) main.py serve $(ARGS)

demo: install
	$(PYTHON) main.py demo

test: install-dev
	$(PYTHON) -m pytest -q tests $(PYTEST_ARGS)

bench: install
	$(PYTHON) bench/executor.py
