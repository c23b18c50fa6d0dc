# The one entry point for people and CI. `make run` starts the daemon on SQLite; `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= etc/annexd.toml
export ANNEX_STATE_DIR ?= $(CURDIR)/state
# Debian packages the tests, the bench and the demo start for real (PostgreSQL 15 is usually preinstalled).
SYSTEM_PACKAGES := qbittorrent-nox ffmpeg prometheus rsync openssh-server openssh-client postgresql-15 libarchive-tools
PYTEST_ARGS ?=

.PHONY: install system-deps run migrate test test-fast bench demo lint clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

# Installs, with apt-get and only when missing, the Debian packages named above.
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

migrate: install
	$(BIN)/annexd --config $(CONFIG) migrate

run: migrate
	$(BIN)/annexd --config $(CONFIG) run

test: install system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

bench: install system-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: install system-deps
	$(BIN)/python -m tests.scenario

lint: install
	$(BIN)/ruff check annexd actors store migrations tests bench
	$(BIN)/mypy annexd actors store

clean:
	rm -rf $(VENV) state .pytest_cache .hypothesis .mypy_cache .ruff_cache *.egg-info
