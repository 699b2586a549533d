# Two commands take a fresh machine to a running appliance or a green test suite:
#   make run    install what is missing, then start the appliance with its embedded defaults
#   make test   install what is missing, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vomeet-installed
SYSTEM_PACKAGES := chromium chromium-headless-shell espeak-ng sox strace mmdebstrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: run test lint setup system-deps doctor bench clean

run: setup
	$(BIN)/vomeet serve

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# ruff and mypy as configured in pyproject.toml (strict for appliance/, asr/, bot/).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy appliance asr bot admin_ui

setup: system-deps $(STAMP)

# Debian packages the bots and the tests need: Chromium's headless shell (what bots drive: the
# lighter build, docs/bot.md), full Chromium (the fallback, and the console tests), espeak-ng
# (speech with known text), sox and strace (the egress test records every connection of a
# meeting's process tree with it: docs/egress.md), mmdebstrap (tests/packaging installs the USB
# image into a clean Debian root it makes). Installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null 2>&1 || missing="$$missing sox"; \
	command -v strace >/dev/null 2>&1 || missing="$$missing strace"; \
	command -v mmdebstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

doctor: setup
	$(BIN)/vomeet doctor

bench: setup
	$(BIN)/python benchmarks/api_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
