"""`vomeet backup FILE` and `vomeet restore FILE`: one tar.gz (mode 0600: it holds secrets).

A backup is taken online, while the appliance runs: every SQLite database of the data directory
(the appliance's, the task queue's, the ASR spool's, any other `*.db`) is copied with SQLite's
online backup API, which gives a consistent snapshot however busy the writers are; the settings
(the TOML file, the admin key file) and, with `--recordings`, the recordings directory are
copied as files. `manifest.json`, the archive's first member, names the format, the program's
version, the database's schema revision, the date and every member with its size and SHA-256.

A restore checks all of that before it changes anything (a corrupted, foreign or newer archive
is refused and the data directory is left as it was), refuses while the appliance runs, puts
the files in place and migrates the database up to this program's schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any

import httpx

from appliance import __version__
from appliance.config import CONFIG_FILE_ENV, Settings

FORMAT = "vomeet-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class Member:
    name: str  # path inside the archive: databases/…, settings/…, recordings/…
    source: Path  # where its bytes are read from now
    origin: str  # where it lives on the appliance (restored there)


def _databases(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("*.db") if p.is_file())


def _snapshot(database: Path, into: Path) -> Path:
    target = into / database.name
    snapshot_database(database, target)
    return target


def snapshot_database(database: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database into `target`, mode 0600 (the online backup API
    copies the pages of one read transaction, so writers in WAL mode carry on meanwhile). The
    console's download and `vomeet backup` both take their copies here."""
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()
    os.chmod(target, 0o600)


def _settings_files(settings: Settings) -> list[tuple[str, Path]]:
    files = []
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and Path(config_file).is_file():
        files.append(("settings/vomeet.toml", Path(config_file)))
    if settings.admin_api_key_file is not None and settings.admin_api_key_file.is_file():
        files.append((f"settings/secrets/{settings.admin_api_key_file.name}", settings.admin_api_key_file))
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Counting(io.RawIOBase):
    """A file read through it reports progress."""

    def __init__(self, handle: IO[bytes], progress: Callable[[int], None]) -> None:
        self._handle, self._progress = handle, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self._progress(len(data))
        return len(data)


def schema_revision(database: Path) -> str | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        try:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
    return None if row is None else str(row[0])


def create(
    settings: Settings, archive: Path, recordings: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Write the backup to `archive` (created 0600, replaced atomically); returns its manifest."""
    if not settings.database_path.exists():
        raise BackupError(f"no database at {settings.database_path}: nothing to back up (is VOMEET_DATA_DIR right?)")
    archive = archive.resolve()
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=settings.data_dir) as work:
        snapshots = Path(work)
        members = [
            Member(f"databases/{db.name}", _snapshot(db, snapshots), str(db)) for db in _databases(settings.data_dir)
        ]
        members += [Member(name, path, str(path.resolve())) for name, path in _settings_files(settings)]
        if recordings and settings.recordings_dir.is_dir():
            for path in sorted(p for p in settings.recordings_dir.rglob("*") if p.is_file()):
                name = f"recordings/{path.relative_to(settings.recordings_dir).as_posix()}"
                members.append(Member(name, path, str(path)))
        contents: list[dict[str, Any]] = [
            {"name": m.name, "origin": m.origin, "bytes": m.source.stat().st_size, "sha256": _sha256(m.source)}
            for m in members
        ]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "vomeet_version": __version__,
            "schema_revision": schema_revision(snapshots / settings.database_path.name),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data_dir": str(settings.data_dir.resolve()),
            "recordings": recordings,
            "contents": contents,
        }
        total = sum(int(entry["bytes"]) for entry in contents)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, total)

        partial = archive.with_name(f".{archive.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                data = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
                for member, entry in zip(members, contents, strict=True):
                    info = tarfile.TarInfo(member.name)
                    info.size, info.mode = entry["bytes"], 0o600
                    info.mtime = int(member.source.stat().st_mtime)
                    with member.source.open("rb") as handle:
                        tar.addfile(info, io.BufferedReader(_Counting(handle, advance)))
            os.replace(partial, archive)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return manifest


# ---- restore ------------------------------------------------------------------------------


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and path.parts[:1] in (
        ("databases",), ("settings",), ("recordings",)
    )


def read_manifest(archive: Path) -> dict[str, Any]:
    """The archive's manifest, after checking that it is a Vomeet backup whose every member is
    the one the manifest lists (size and SHA-256): nothing is written anywhere."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BackupError(f"{archive} is not a Vomeet backup (no {MANIFEST} first)")
            extracted = tar.extractfile(first)
            assert extracted is not None
            manifest: dict[str, Any] = json.loads(extracted.read())
            if manifest.get("format") != FORMAT:
                raise BackupError(f"{archive} is not a Vomeet backup (format {manifest.get('format')!r})")
            if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
                raise BackupError(
                    f"{archive} was written in backup format {manifest['format_version']}, newer than "
                    f"this vomeet ({__version__}) reads; restore it with the version that wrote it "
                    f"({manifest.get('vomeet_version')}) or a newer one."
                )
            expected = {entry["name"]: entry for entry in manifest["contents"]}
            seen = set()
            for member in tar:
                if member is first:
                    continue
                entry = expected.get(member.name)
                if entry is None or not member.isfile() or not _safe_name(member.name):
                    raise BackupError(f"{archive}: unexpected member {member.name!r}; refusing it")
                handle = tar.extractfile(member)
                assert handle is not None
                digest = hashlib.sha256()
                for block in iter(lambda: handle.read(1 << 20), b""):  # noqa: B023 (read now)
                    digest.update(block)
                if member.size != entry["bytes"] or digest.hexdigest() != entry["sha256"]:
                    raise BackupError(f"{archive}: {member.name} does not match its checksum; the archive is damaged")
                seen.add(member.name)
            if seen != set(expected):
                raise BackupError(f"{archive}: missing {sorted(set(expected) - seen)}; the archive is incomplete")
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{archive} cannot be read as a Vomeet backup ({exc}); the archive is damaged") from exc
    return manifest


def check_schema(manifest: dict[str, Any], known: Callable[[str], bool]) -> None:
    revision = manifest.get("schema_revision")
    if revision is not None and not known(revision):
        raise BackupError(
            f"this backup's database schema ({revision}) is newer than this vomeet ({__version__}) "
            f"knows; it was written by vomeet {manifest.get('vomeet_version')}. Install that version "
            "or a newer one, then restore."
        )


def appliance_running(settings: Settings) -> bool:
    """Something answers on the appliance's address, or a supervisor's children are alive."""
    try:
        if httpx.get(f"{settings.loopback_url}/healthz", timeout=2).status_code == 200:
            return True
    except httpx.HTTPError:
        pass
    from appliance.processes import live_process

    try:
        children = json.loads((settings.state_dir / "children.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    for child in children:
        started = float(child.get("started_at") or 0)
        if child.get("pid") and live_process(int(child["pid"]), partial(_same_start, started)):
            return True
    return False


def _same_start(recorded: float, created: float) -> bool:
    return abs(created - recorded) <= 1


def restore(settings: Settings, archive: Path, known: Callable[[str], bool], replace: bool = False,
            progress: Progress | None = None) -> dict[str, Any]:
    """Put a checked backup in place in settings.data_dir (migrating is the caller's next step)."""
    manifest = read_manifest(archive)
    check_schema(manifest, known)
    if appliance_running(settings):
        raise BackupError(
            "the appliance is running on this data directory; stop it first "
            "(`systemctl stop vomeet`, or Ctrl+C on `vomeet serve`), then restore"
        )
    existing = [p for p in _databases(settings.data_dir)] if settings.data_dir.exists() else []
    if existing and not replace:
        raise BackupError(
            f"{settings.data_dir} already holds {', '.join(p.name for p in existing)}; restore into an empty "
            "data directory, or pass --replace (the current databases are kept in a pre-restore folder)"
        )
    settings.ensure_dirs()
    total = sum(entry["bytes"] for entry in manifest["contents"])
    done = 0
    origins = {entry["name"]: entry["origin"] for entry in manifest["contents"]}
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.data_dir) as work:
        staging = Path(work)
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                handle = tar.extractfile(member)
                assert handle is not None
                target = staging / member.name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for block in iter(lambda: handle.read(1 << 20), b""):  # noqa: B023 (read now)
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
        if existing:
            aside = settings.data_dir / f"pre-restore-{dt.datetime.now():%Y%m%d-%H%M%S}"
            aside.mkdir(mode=0o700)
            for database in existing:
                for path in database.parent.glob(database.name + "*"):  # with its -wal and -shm
                    os.replace(path, aside / path.name)
        for path in _files(staging / "databases"):
            for stale in (path.name + "-wal", path.name + "-shm"):
                (settings.data_dir / stale).unlink(missing_ok=True)
            os.replace(path, settings.data_dir / path.name)
        for path in _files(staging / "recordings"):
            target = settings.recordings_dir / path.relative_to(staging / "recordings")
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(path, target)
        manifest["settings_restored"] = []
        for path in _files(staging / "settings"):
            origin = Path(origins[path.relative_to(staging).as_posix()])
            if origin.exists() and not replace:
                continue  # the box's own settings stay; the backup's copy is in the archive
            origin.parent.mkdir(parents=True, exist_ok=True)
            if origin.exists():  # rewritten in place: its owner and mode (0640 root:vomeet) stay
                shutil.copyfile(path, origin)
            else:
                fd = os.open(origin, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(path.read_bytes())
            manifest["settings_restored"].append(str(origin))
    return manifest


def _files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file()) if root.is_dir() else iter(())
