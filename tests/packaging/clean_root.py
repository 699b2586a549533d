"""A clean Debian root made from Debian's packages (mmdebstrap), and a runner that executes commands
in it inside a network namespace that has only loopback.

The root stands for a customer's freshly installed server: Debian's minimal base of the same release
as this machine, plus systemd (what the appliance's units need; it is not PID 1 here). It has no
Python, no Chromium and no network: whatever the appliance needs must come off the USB image.

Each command runs as `nsenter --net=<netns> unshare --mount --pid --fork chroot <root> ...`: its own
mount namespace (proc, /dev, a fresh /dev/shm and sysfs mounted for it alone, nothing leaks onto the
host), its own PID namespace (it sees only its own processes; when it ends, whatever it left
running ends too), and the shared test network namespace, where the test process (through `Netns.entered`)
serves the mock meeting and talks to the installed appliance on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
# What the root holds besides Debian's minimal base: the init system a server boots. Everything
# else (the bots' browser, fonts, the frozen program) must come off the image.
ROOT_VARIANT = "minbase"
ROOT_INCLUDE = ("systemd", "systemd-sysv")
# Bumped when the way the root is made changes, so a cached root from an older recipe is not reused.
RECIPE = 1
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")

# Mounts a command needs inside the root, done in the command's own mount namespace (unshare's
# default propagation is private, so none of them appears on the host). $2 non-empty: a private
# /tmp, as PrivateTmp=yes gives a service. This shell stays as PID 1 of the namespace and runs the
# command as its child, so the command keeps ordinary signal semantics (a PID 1 ignores signals it
# has no handler for) and its exit status is the shell's.
_ENTER = r"""
set -e
root=$1; private_tmp=$2; shift 2
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
mount -t sysfs sysfs "$root/sys"
if [ -n "$private_tmp" ]; then mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"; fi
chroot "$root" "$@"
"""


def host_release() -> str:
    """This machine's Debian codename (the root is made of the same release)."""
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip('"')
    raise RuntimeError("/etc/os-release names no VERSION_CODENAME")


def debian_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()


def root_recipe() -> dict[str, object]:
    """Everything that decides the root's content; its digest names the cached copy."""
    return {
        "recipe": RECIPE, "suite": host_release(), "arch": debian_arch(), "variant": ROOT_VARIANT,
        "include": list(ROOT_INCLUDE),
        "sources": SOURCES.read_text() if SOURCES.exists() else "",
    }


def cached_root(cache_dir: Path) -> Path:
    """The clean root for `root_recipe()`, made with mmdebstrap on first use and kept under
    `cache_dir/<digest>/root` (the digest changes with the recipe, so a stale root is never used)."""
    recipe = root_recipe()
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    home = cache_dir / digest
    root = home / "root"
    if (home / "complete").exists():
        return root
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    command = ["mmdebstrap", f"--variant={ROOT_VARIANT}", f"--include={','.join(ROOT_INCLUDE)}",
               "--mode=root", "--format=directory", str(recipe["suite"]), str(root)]
    if SOURCES.exists():  # the mirrors this machine uses (a pinned snapshot, where it has one)
        command.append(str(SOURCES))
    with (home / "mmdebstrap.log").open("wb") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed ({done.returncode}): see {home / 'mmdebstrap.log'}")
    (home / "recipe.json").write_text(json.dumps(recipe, indent=1))
    (home / "complete").touch()
    return root


def copy_root(source: Path, target: Path) -> Path:
    """A private working copy of the cached root (the cache itself stays clean)."""
    subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], check=True)
    return target


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return [p for p in points if p.startswith(prefix) or p == prefix.rstrip("/")]


def remove_root(path: Path) -> None:
    """Delete a working root, refusing while anything is mounted under it (a bind of the host's
    /dev that had leaked out would otherwise be deleted with it)."""
    leaked = mounts_under(path)
    if leaked:
        raise RuntimeError(f"not removing {path}: still mounted there: {leaked}")
    shutil.rmtree(path)


class Netns:
    """A named network namespace with only loopback (up), removed by `close()`."""

    def __init__(self) -> None:
        self.name = f"vomeet-test-{os.getpid()}-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        # A second loopback address: aioice (the mock meeting's WebRTC) gathers no candidate on
        # 127.0.0.1, so with only that address the mock could offer the bot no media path at all.
        subprocess.run(["ip", "-n", self.name, "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True)
        self.path = Path("/run/netns") / self.name

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """A command line that runs `argv` in this namespace."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Move the calling thread into this namespace for the block: its sockets, and the threads
        and processes it starts meanwhile, live there (a network namespace is per thread)."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns(self.path, CLONE_NEWNET)
            try:
                yield
            finally:
                _setns_fd(home, CLONE_NEWNET)
        finally:
            os.close(home)

    def close(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=True)


def _setns(path: Path, kind: int) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns_fd(fd, kind)
    finally:
        os.close(fd)


def _setns_fd(fd: int, kind: int) -> None:
    # os.setns arrived in Python 3.12; the venv runs 3.11.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@dataclass
class CleanRoot:
    """A working copy of the clean root and the network namespace its commands run in."""

    path: Path
    netns: Netns

    def argv(self, argv: Sequence[str], private_tmp: bool = False) -> list[str]:
        """The host command line that runs `argv` (a command inside the root) isolated as above."""
        return self.netns.wrap([
            "unshare", "--mount", "--pid", "--fork", "--kill-child",
            "sh", "-c", _ENTER, "enter", str(self.path), "1" if private_tmp else "", *argv,
        ])

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout_s: float = 300,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command in the root to completion; output captured, status not checked."""
        return subprocess.run(self.argv(argv), env=_environment(env), capture_output=True, text=True,
                              timeout=timeout_s, input=input_text)

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run(["/bin/sh", "-c", script], **kwargs)  # type: ignore[arg-type]

    def file(self, inside: str) -> Path:
        """A path inside the root, as seen from the host."""
        return self.path / inside.lstrip("/")


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    # A root shell's environment as a login would give it, not the test process's (no venv, no
    # VOMEET_* of the test run).
    base = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8", "TERM": os.environ.get("TERM", "dumb")}
    return {**base, **(env or {})}

