# Two commands take a fresh machine to a running appliance or a green test suite:
#   make run    install what is missing, then start the appliance with its embedded defaults
#   make test   install what is missing, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vomeet-installed
SYSTEM_PACKAGES := chromium chromium-headless-shell espeak-ng sox strace zstd mmdebstrap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
LOCK := requirements.lock
UV_VERSION := 0.13.8
LOCK_ARGS ?=

.PHONY: run test lint setup lock bundle system-deps doctor bench clean

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
# image into a clean Debian root it makes), zstd (`make bundle` packs with it). Installed only when
# missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null 2>&1 || missing="$$missing sox"; \
	command -v strace >/dev/null 2>&1 || missing="$$missing strace"; \
	command -v zstd >/dev/null 2>&1 || missing="$$missing zstd"; \
	command -v mmdebstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Python packages come from the lock file (every pin with its hashes, so a fresh machine gets
# exactly what was tested); the project itself goes in on top without resolving anything.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# Regenerates requirements.lock from pyproject.toml (runtime + test + bundle extras) with uv, at a
# pinned version. Pins already in the lock are kept; `make lock LOCK_ARGS=--upgrade` moves them.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bundle --generate-hashes \
		--python-version 3.11 --custom-compile-command "make lock" -o $(LOCK) $(LOCK_ARGS)

# The frozen one-dir program, packed as dist/vomeet-<version>-linux-<arch>.tar.zst
# (packaging/README.md, "Bundle").
bundle: setup
	$(BIN)/python packaging/build_bundle.py

doctor: setup
	$(BIN)/vomeet doctor

bench: setup
	$(BIN)/python benchmarks/api_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
