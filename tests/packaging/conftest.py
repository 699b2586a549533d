"""Fixtures of the packaging tests.

- `clean_root_cache` (session): Debian's minimal root of this machine's release, made by mmdebstrap
  on first use and cached under build/clean-root/<digest of its recipe>/ (tests/packaging/clean_root.py).
- `netns` (session): a network namespace with only loopback, removed at the end.
- `clean_root` (module): a private working copy of the cached root whose commands run in `netns`;
  deleted after the module.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.packaging.clean_root import CleanRoot, Netns, cached_root, copy_root, remove_root

CLEAN_ROOT_CACHE = REPO / "build" / "clean-root"


@pytest.fixture(scope="session")
def root_tools() -> None:
    """Skips without root; fails naming what is missing (make system-deps installs it)."""
    if os.geteuid() != 0:
        pytest.skip("the clean-root tests need root (network and mount namespaces, chroot)")
    missing = [tool for tool in ("mmdebstrap", "nsenter", "unshare", "ip") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: `make system-deps` installs them")


@pytest.fixture(scope="session")
def clean_root_cache(root_tools: None) -> Path:
    return cached_root(CLEAN_ROOT_CACHE)


@pytest.fixture(scope="session")
def netns(root_tools: None) -> Iterator[Netns]:
    namespace = Netns()
    yield namespace
    namespace.close()


@pytest.fixture(scope="module")
def clean_root(clean_root_cache: Path, netns: Netns,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[CleanRoot]:
    root = copy_root(clean_root_cache, tmp_path_factory.mktemp("clean-root") / "root")
    yield CleanRoot(root, netns)
    remove_root(root)
