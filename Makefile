# Two commands take a fresh machine to a running appliance or a green test suite:
#   make run    install what is missing, then start the appliance with its embedded defaults
#   make test   install what is missing, then lint (ruff, mypy) and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vomeet-installed
SYSTEM_PACKAGES := chromium chromium-headless-shell espeak-ng sox strace zstd mmdebstrap minisign shellcheck fdisk apt-utils e2fsprogs
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
LOCK := requirements.lock
UV_VERSION := 0.13.8
LOCK_ARGS ?=

.PHONY: run test lint setup lock bundle usb-image signing-key-given system-deps doctor bench clean
.PHONY: client client-bundle client-screenshots

run: setup
	$(BIN)/vomeet serve

# Lint first: a new ruff finding or type error fails `make test` (and so CI) before pytest starts.
test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# ruff and mypy as configured in pyproject.toml: ruff over the whole tree; mypy over the files
# its config lists (strict for the product packages, the default level for tests/).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

setup: system-deps $(STAMP)

# Debian packages the bots and the tests need: Chromium's headless shell (what bots drive: the
# lighter build, docs/bot.md), full Chromium (the fallback, and the console tests), espeak-ng
# (speech with known text), sox and strace (the egress test records every connection of a
# meeting's process tree with it: docs/egress.md), mmdebstrap (tests/packaging installs the USB
# image into a clean Debian root it makes), zstd (`make bundle` packs with it). Installed only when
# missing. The USB image (`make usb-image`) needs minisign (signature), fdisk (sfdisk: the
# partition table), e2fsprogs (mke2fs -d, debugfs) and apt-utils (apt-ftparchive: the offline
# repository's index); shellcheck checks install.sh in the tests. systemd: tests/systemd scores
# the unit with systemd-analyze and applies the sysusers/tmpfiles snippets in a scratch root.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromium-headless-shell >/dev/null 2>&1 || missing="$$missing chromium-headless-shell"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v sox >/dev/null 2>&1 || missing="$$missing sox"; \
	command -v strace >/dev/null 2>&1 || missing="$$missing strace"; \
	command -v zstd >/dev/null 2>&1 || missing="$$missing zstd"; \
	command -v mmdebstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	command -v minisign >/dev/null 2>&1 || missing="$$missing minisign"; \
	command -v shellcheck >/dev/null 2>&1 || missing="$$missing shellcheck"; \
	command -v sfdisk >/dev/null 2>&1 || missing="$$missing fdisk"; \
	command -v apt-ftparchive >/dev/null 2>&1 || missing="$$missing apt-utils"; \
	command -v debugfs >/dev/null 2>&1 || missing="$$missing e2fsprogs"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
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

# The USB installer image dist/vomeet-<version>-usb.img (packaging/README.md, "Image"). The release
# key stays out of the repository: SIGNING_KEY=/path/release.key SIGNING_PUBKEY=/path/release.pub.
# MODELS=dir[,dir] adds CTranslate2 model directories; K3S_BINARY=, K3S_IMAGES= and
# K3S_INSTALL_SCRIPT= add k3s's air-gap artefacts.
usb-image: signing-key-given bundle
	$(BIN)/python packaging/build_usb_image.py \
		--signing-key "$(SIGNING_KEY)" --signing-pubkey "$(SIGNING_PUBKEY)" \
		$(if $(MODELS),--model "$(MODELS)") $(if $(K3S_BINARY),--k3s-binary "$(K3S_BINARY)") \
		$(if $(K3S_IMAGES),--k3s-images "$(K3S_IMAGES)") \
		$(if $(K3S_INSTALL_SCRIPT),--k3s-install-script "$(K3S_INSTALL_SCRIPT)")

signing-key-given:
	@test -n "$(SIGNING_KEY)" && test -n "$(SIGNING_PUBKEY)" || \
		{ echo "make usb-image needs SIGNING_KEY= and SIGNING_PUBKEY= (a minisign key pair)"; exit 2; }

# The desktop client from source (docs/client.md), its one-dir bundle packed as
# dist/vomeet-client-<version>-linux-<arch>.tar.zst, and the screenshots in docs/client/.
client: setup
	$(BIN)/vomeet-client

client-bundle: setup
	$(BIN)/python packaging/build_client_bundle.py

client-screenshots: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m client.ui.screenshots docs/client

doctor: setup
	$(BIN)/vomeet doctor

bench: setup
	$(BIN)/python benchmarks/api_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info
