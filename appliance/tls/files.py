"""Writing the TLS files: private, whole or not at all."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write to a temporary file made with `mode` from the start (a key is never readable by
    others, not even for a moment), flush it to disk, then rename it over `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def point_link(link: Path, target: str) -> None:
    """Make `link` point at `target` in one step (a new link renamed over the old one), so a
    reader follows either the old generation or the new one, never half of each."""
    temporary = link.with_name(f".{link.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def give_to_owner_of(paths: list[Path], data_dir: Path) -> None:
    """Run as root (`vomeet tls rotate` by an operator), hand what was written to the data
    directory's owner, the service user: a root-owned 0600 key is one the service cannot read."""
    if os.geteuid() != 0:
        return
    owner = data_dir.stat()
    if owner.st_uid == 0:
        return
    for path in paths:
        os.lchown(path, owner.st_uid, owner.st_gid)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One writer at a time (the server's first start and a `vomeet tls` command may race)."""
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
