"""Build the USB image's offline Debian package repository: the bots' Chromium headless shell and
the fonts participants' names need, with every dependency a minimal Debian root lacks.

The closure is resolved by apt itself against the package set of a minimal root (Essential: yes
plus apt, what `mmdebstrap --variant=apt` installs), not against this build machine, so nothing is
missing on a clean box: apt first resolves that minimal set from an empty dpkg status, the result
is written as a dpkg status file, and the wanted packages are then resolved and downloaded
against it. `--base-status` takes the real status file of a clean root instead. Downloads are
cached in apt's own archive directory under `build/` (apt skips files it already has), and the
repository is written as a flat `Packages` index made by `apt-ftparchive`.

    python packaging/offline_repo.py --out build/offline-repo [--cache build/apt-cache]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Chromium's headless build (what the bots drive, docs/bot.md) and small fonts that together
# cover Latin, Greek and Cyrillic (DejaVu, 1 MB), Chinese, Japanese and Korean (Droid Sans
# Fallback, 2 MB, where Noto CJK is 57 MB) and colour emoji (Noto Color Emoji, 10 MB).
# libatomic1 (45 kB): Playwright's node driver in the bundle links libatomic.so.1, which a minimal
# Debian root lacks; node is no Debian package, so no closure would bring it (found by
# tests/packaging/test_clean_root_install.py: the bot's driver did not start in the clean root).
DEFAULT_PACKAGES = (
    "chromium-headless-shell",
    "fonts-dejavu-core",
    "fonts-droid-fallback",
    "fonts-noto-color-emoji",
    "libatomic1",
)
INST_LINE = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)")


@dataclass(frozen=True, order=True)
class Package:
    name: str
    version: str
    arch: str

    @property
    def deb_name(self) -> str:
        """The file name apt gives the download (an epoch's colon written as %3a)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def _apt_options(status: Path, archives: Path) -> list[str]:
    # The host's package lists, a status file of our choosing, our own archive cache; no locks on
    # the host's dpkg database (nothing is installed).
    return [
        "-o", f"Dir::State::status={status}",
        "-o", f"Dir::Cache::archives={archives}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Install-Recommends=0",
        "-o", "APT::Install-Suggests=0",
    ]


def resolve(packages: list[str], status: Path, archives: Path) -> list[Package]:
    """What `apt-get install packages` would install on a root whose dpkg status is `status`."""
    result = subprocess.run(
        ["apt-get", "-s", "-q", "install", *_apt_options(status, archives), *packages],
        check=True, capture_output=True, text=True,
    )
    found = [Package(*match.groups()) for line in result.stdout.splitlines() if (match := INST_LINE.match(line))]
    return sorted(set(found))


def essential_packages() -> list[str]:
    """Every package the release marks Essential: yes."""
    dump = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True, text=True).stdout
    names: set[str] = set()
    for stanza in dump.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Essential") == "yes" and "Package" in fields:
            names.add(fields["Package"])
    return sorted(names)


def write_status(installed: list[Package], path: Path) -> None:
    """A dpkg status file listing `installed` as installed (their stanzas from apt's lists)."""
    shown = subprocess.run(
        ["apt-cache", "show", *(f"{p.name}:{p.arch}={p.version}" if p.arch != "all" else f"{p.name}={p.version}"
                               for p in installed)],
        check=True, capture_output=True, text=True,
    ).stdout
    seen: set[str] = set()
    stanzas = []
    for stanza in shown.strip().split("\n\n"):
        name = next(line.split(": ", 1)[1] for line in stanza.splitlines() if line.startswith("Package: "))
        if name in seen:  # the same version listed by two sources
            continue
        seen.add(name)
        stanzas.append(f"{stanza.strip()}\nStatus: install ok installed")
    path.write_text("\n\n".join(stanzas) + "\n", encoding="utf-8")


def minimal_root_status(work: Path, archives: Path) -> Path:
    """The dpkg status of a minimal root (Essential: yes + apt), resolved by apt from nothing."""
    empty = work / "empty-status"
    empty.write_text("", encoding="utf-8")
    base = resolve([*essential_packages(), "apt"], empty, archives)
    status = work / "minimal-root-status"
    write_status(base, status)
    return status


def build(out: Path, cache: Path, packages: list[str], base_status: Path | None) -> list[Package]:
    """Write the repository to `out` (the .deb files, Packages, Release); returns its packages."""
    archives = cache.resolve() / "archives"  # apt takes a relative path as under /var/cache/apt
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    status = base_status.resolve() if base_status else minimal_root_status(cache.resolve(), archives)
    closure = resolve(packages, status, archives)
    if not closure:
        raise SystemExit(f"nothing to install for {packages}: are they all in the minimal root?")
    subprocess.run(
        ["apt-get", "-q", "-y", "--download-only", "install", *_apt_options(status, archives), *packages],
        check=True, stdout=subprocess.DEVNULL,
    )
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for package in closure:
        source = archives / package.deb_name
        if not source.is_file():
            raise SystemExit(f"apt did not download {package.deb_name}")
        target = out / package.deb_name.replace("%3a", "_")
        try:
            target.hardlink_to(source)
        except OSError:
            shutil.copy2(source, target)
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=out, check=True, capture_output=True).stdout
    (out / "Packages").write_bytes(index)
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=out, check=True, capture_output=True).stdout
    (out / "Release").write_bytes(release)
    return closure


def cache_key(packages: list[str], base_status: Path | None) -> str:
    """Names the cached download set: the package list and the base it was resolved against."""
    digest = hashlib.sha256("\n".join(sorted(packages)).encode())
    if base_status is not None:
        digest.update(base_status.read_bytes())
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="repository directory to (re)write")
    parser.add_argument("--cache", type=Path, default=Path("build/apt-cache"), help="download cache")
    parser.add_argument("--base-status", type=Path, help="dpkg status of the clean target root")
    parser.add_argument("packages", nargs="*", default=list(DEFAULT_PACKAGES))
    args = parser.parse_args(argv)
    cache = args.cache / cache_key(args.packages, args.base_status)
    closure = build(args.out, cache, args.packages, args.base_status)
    size = sum(f.stat().st_size for f in args.out.glob("*.deb"))
    print(f"{len(closure)} packages, {size / 1e6:.1f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
