"""Build the frozen one-dir `vomeet` bundle and pack it as dist/vomeet-<version>-linux-<arch>.tar.zst.

    python packaging/build_bundle.py                    # what `make bundle` runs
    python packaging/build_bundle.py --if-changed       # no new build when no input changed
    python packaging/build_bundle.py --repack-as 0.1.1  # the last build, packed under another version

The tarball holds one folder, `vomeet-<version>/`: the executable `vomeet`, PyInstaller's
`_internal/` and a `VERSION` file (packaging/README.md, "Bundle"). It is packed with symlinks
kept, files sorted, owner root and every mtime set to SOURCE_DATE_EPOCH (the last commit's time
by default), so that two packings of one build are byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "vomeet.spec"
# What goes into the bundle: a change to any of these asks for a new build (tests' cache key).
SOURCES = ("appliance", "asr", "bot", "admin_ui", "packaging/hooks")
INPUT_FILES = ("requirements.lock", "pyproject.toml", "packaging/vomeet.spec", "packaging/entry.py",
               "packaging/build_bundle.py")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache"}
UNAME_TO_DEB = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}
ZSTD_LEVEL = 10  # ~4x smaller than the folder; -19 takes minutes on two cores for a few % more


def version() -> str:
    return importlib.metadata.version("vomeet")


def arch() -> str:
    """Debian's name for this machine's architecture (amd64, arm64), as the installer checks it."""
    if shutil.which("dpkg"):
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    machine = platform.machine()
    return UNAME_TO_DEB.get(machine, machine)


def tarball_name(ver: str, architecture: str, name: str = "vomeet") -> str:
    return f"{name}-{ver}-linux-{architecture}.tar.zst"


def _input_files() -> Iterator[Path]:
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not SKIP_PARTS.intersection(path.parts) and path.suffix != ".pyc":
                yield path
    for name in INPUT_FILES:
        yield ROOT / name


def source_digest() -> str:
    """sha256 over the bundle's inputs (sources, spec and hooks, lock file, project metadata) and
    the Python that freezes them: equal digests, equal bundles."""
    digest = hashlib.sha256(sys.version.encode())
    for path in _input_files():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def bundle_dir(workdir: Path) -> Path:
    return workdir / "dist" / "vomeet"


def digest_file(workdir: Path) -> Path:
    return workdir / "inputs.sha256"  # source_digest() of the build in bundle_dir(workdir)


def is_current(workdir: Path) -> bool:
    """Whether `workdir` holds a finished build of the present inputs."""
    recorded = digest_file(workdir)
    return (bundle_dir(workdir) / "vomeet").is_file() and recorded.is_file() \
        and recorded.read_text().strip() == source_digest()


def freeze(workdir: Path) -> Path:
    """Run PyInstaller on the spec; returns the one-dir bundle (`<workdir>/dist/vomeet`)."""
    digest = source_digest()  # of the inputs as they were when the build started
    digest_file(workdir).unlink(missing_ok=True)
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(workdir / "dist"), "--workpath", str(workdir / "work"), str(SPEC)],
        cwd=ROOT, check=True,
    )
    digest_file(workdir).write_text(digest + "\n")
    return bundle_dir(workdir)


def _source_date_epoch() -> str:
    if "SOURCE_DATE_EPOCH" in os.environ:
        return os.environ["SOURCE_DATE_EPOCH"]
    try:
        return subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip() or "0"
    except (OSError, subprocess.CalledProcessError):
        return "0"


def pack(bundle: Path, ver: str, out_dir: Path, name: str = "vomeet") -> Path:
    """`bundle` as `<out_dir>/<name>-<ver>-linux-<arch>.tar.zst`, rooted at `<name>-<ver>/`
    (`name`: vomeet, or vomeet-client for packaging/build_client_bundle.py)."""
    (bundle / "VERSION").write_text(ver + "\n")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / tarball_name(ver, arch(), name)
    partial = target.with_name(target.name + ".partial")
    subprocess.run(
        ["tar", "--sort=name", f"--mtime=@{_source_date_epoch()}", "--owner=0", "--group=0",
         "--numeric-owner", "--use-compress-program", f"zstd -q -{ZSTD_LEVEL} -T0",
         "-C", str(bundle.parent), f"--transform=s,^{bundle.name},{name}-{ver},",
         "-cf", str(partial), bundle.name],
        check=True,
    )
    partial.replace(target)
    return target


def folder_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bundle",
                        help="PyInstaller's work and output folder (default: build/bundle)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the tarball goes (default: dist)")
    parser.add_argument("--repack-as", metavar="VERSION",
                        help="do not build: pack the last build of --workdir under this version")
    parser.add_argument("--if-changed", action="store_true",
                        help="reuse the build in --workdir when it was made from the present inputs")
    parser.add_argument("--print-digest", action="store_true", help="print the inputs' digest and exit")
    args = parser.parse_args(argv)
    if args.print_digest:
        print(source_digest())
        return 0
    started = time.monotonic()
    if args.repack_as:
        bundle, ver = bundle_dir(args.workdir), args.repack_as
        if not (bundle / "vomeet").is_file():
            parser.error(f"no build in {bundle}; run without --repack-as first")
    elif args.if_changed and is_current(args.workdir):
        bundle, ver = bundle_dir(args.workdir), version()
        print(f"inputs unchanged since the build in {bundle}: not rebuilt")
        packed = args.dist / tarball_name(ver, arch())
        if packed.is_file() and packed.stat().st_mtime >= digest_file(args.workdir).stat().st_mtime:
            print(f"packed {packed}: {packed.stat().st_size / 2**20:.0f} MiB, packed earlier from this build")
            return 0
    else:
        bundle, ver = freeze(args.workdir), version()
    built = time.monotonic()
    tarball = pack(bundle, ver, args.dist)
    print(f"bundle {bundle}: {folder_size(bundle) / 2**20:.0f} MiB; built in {built - started:.0f} s")
    print(f"packed {tarball}: {tarball.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - built:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
