# Two entry points (see README "Quick start"): `make run` starts the studio, `make test` runs
# lint, the import-linter contracts and pytest. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
PORT   ?= 8501

.PHONY: run test lint install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files: reinstall only when the dependency list changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e .
	touch $@

# The browser test needs Debian's chromium; installed here where we may (root), else that one
# test says it is skipped and why.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium could not be installed: tests/test_browser.py will be skipped"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# app_server.py is `streamlit run streamlit_app.py` behind a Host-header guard (README "Hosts").
run: install
	$(BIN)/python app_server.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
