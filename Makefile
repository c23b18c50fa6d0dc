# The one entry point for people and CI. `make run` starts the daemon on SQLite; `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= etc/annexd.toml
# `make run` keeps its state (the SQLite database) where the `annexd` command looks by default:
# $ANNEX_STATE_DIR if exported, else $XDG_STATE_HOME/annexd, else ~/.local/state/annexd.
# Debian packages the tests, the bench and the demo start for real (PostgreSQL 15 is usually preinstalled;
# InspIRCd + Anope are the IRC network with NickServ/SASL of the announce tests).
SYSTEM_PACKAGES := qbittorrent-nox ffmpeg prometheus rsync openssh-server openssh-client postgresql-15 libarchive-tools inspircd anope openssl wrk
PYTEST_ARGS ?=

.PHONY: install system-deps run migrate test test-fast chaos bench demo lint clean

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

# Everything but the long `slow` runs, against real servers (what CI runs).
test: install system-deps
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# No real server or program needed: `integration` tests are deselected and server fixtures refuse to start.
test-fast: install
	ANNEXD_TEST_FAST=1 $(BIN)/pytest -m "not integration and not slow" $(PYTEST_ARGS)

# The long `slow` runs (chaos trials, big benches); pytest's "no tests collected" (exit 5) is not a failure.
chaos: install system-deps
	@$(BIN)/pytest -m slow $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make chaos: no slow tests yet"; exit 0; fi; exit $$rc

bench: install system-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

demo: install system-deps
	$(BIN)/python -m tests.scenario

lint: install
	$(BIN)/ruff check annexd actors store migrations tests bench
	$(BIN)/mypy annexd actors store

clean:
	rm -rf $(VENV) state .pytest_cache .hypothesis .mypy_cache .ruff_cache *.egg-info
