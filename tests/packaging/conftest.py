"""Fixtures of the packaging tests.

- `clean_root_cache` (session): Debian's minimal root of this machine's release, made by mmdebstrap
  on first use and cached under build/clean-root/<digest of its recipe>/ (tests/packaging/clean_root.py).
- `netns` (session): a network namespace with only loopback, removed at the end.
- `clean_root` (module): a private working copy of the cached root whose commands run in `netns`;
  deleted after the module.
- `frozen_bundle` (session): the path of the frozen bundle's tarball,
  build/bundle/vomeet-<version>-linux-<arch>.tar.zst, built once per session by
  `packaging/build_bundle.py --if-changed` (so a rerun with no source, spec, hook or lock change
  reuses build/bundle/, and a fresh clone builds it); the unpacked program it was packed from is
  build/bundle/dist/vomeet/. The build takes minutes of CPU: run these tests under
  `flock /tmp/vomeet-heavy.lock` on a shared machine (the fixture does not take the lock itself, so
  that a test run already holding it does not wait for itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.packaging.clean_root import CleanRoot, Netns, cached_root, copy_root, remove_root

CLEAN_ROOT_CACHE = REPO / "build" / "clean-root"
BUNDLE_WORKDIR = REPO / "build" / "bundle"
BUNDLE_BUILD_TIMEOUT_S = 1800


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


@pytest.fixture(scope="session")
def frozen_bundle() -> Path:
    if shutil.which("zstd") is None:
        pytest.fail("zstd is missing: `make system-deps` installs it")
    built = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "build_bundle.py"), "--if-changed",
         "--workdir", str(BUNDLE_WORKDIR), "--dist", str(BUNDLE_WORKDIR)],
        cwd=REPO, capture_output=True, text=True, timeout=BUNDLE_BUILD_TIMEOUT_S,
    )
    assert built.returncode == 0, f"the bundle build failed:\n{built.stdout[-2000:]}\n{built.stderr[-6000:]}"
    packed = [line.split()[1].rstrip(":") for line in built.stdout.splitlines() if line.startswith("packed ")]
    assert packed, f"the build named no tarball:\n{built.stdout}"
    return Path(packed[-1])
