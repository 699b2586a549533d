"""`vomeet backup` and `vomeet restore` as an operator runs them: a backup taken while the
appliance is writing restores into an empty data directory with every meeting and token, and
users sign in with their old tokens; damaged, foreign and newer archives are refused without
touching the data directory; a restore is refused while the appliance runs."""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO, Appliance, HangingMeetingHost, appliance_env, free_port
from tests.runtime.conftest import Reaper, pid_of, reaper, wait_for_status  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def vomeet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appliance", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time (to prove nothing changed)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_backup_while_writing_restores_every_meeting_and_token(
    make_appliance, hanging_host: HangingMeetingHost, reaper: Reaper, tmp_path: Path  # noqa: F811
) -> None:
    toml = tmp_path / "vomeet.toml"
    toml.write_text('log_level = "info"\n')
    app: Appliance = make_appliance(config_file=str(toml), google_meet_base_url=hanging_host.base_url)
    app.start()
    owners = [app.new_user(f"owner{i}@example.com") for i in range(2)]
    meetings = {}
    for index, (_, token) in enumerate(owners):
        with app.client(token) as client:
            answer = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": f"bkp-abcd-ef{index}"})
            assert answer.status_code == 201, answer.text
            reaper.track(pid_of(answer.json()["bot_container_id"]))
            meetings[token] = answer.json()["id"]
            assert client.delete(f"/bots/google_meet/bkp-abcd-ef{index}").status_code == 202
            wait_for_status(client, meetings[token], "completed")

    # The server keeps writing (users, tokens, their rows and audit) while the backup runs.
    writing = threading.Event()
    written: list[int] = []

    def write() -> None:
        while not writing.is_set():
            written.append(app.new_user(f"busy{len(written)}@example.com")[0])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        archive = tmp_path / "out" / "vomeet.tar.gz"
        archive.parent.mkdir()
        made = vomeet(app.env, "backup", str(archive))
    finally:
        writing.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert "(100%)" in made.stderr and " bytes " in made.stderr  # progress on standard error
    assert written, "the writer made nothing while the backup ran"
    assert os.stat(archive).st_mode & 0o777 == 0o600

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    names = {e["name"] for e in manifest["contents"]}
    assert names >= {"databases/vomeet.db", "databases/queue.db", "settings/vomeet.toml"}
    assert manifest["format"] == "vomeet-backup" and manifest["schema_revision"]

    # A restore is refused while the appliance runs on that data directory.
    refused = vomeet(app.env, "restore", "--replace", str(archive))
    assert refused.returncode != 0 and "stop it first" in refused.stderr

    # Into an empty data directory of a new box (its settings file is missing: restored too).
    toml.unlink()
    port = free_port()
    fresh = appliance_env(tmp_path / "restored", port)
    restored = vomeet(fresh, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    data = tmp_path / "restored"
    for name in ("vomeet.db", "queue.db"):
        assert os.stat(data / name).st_mode & 0o777 == 0o600
        with sqlite3.connect(data / name) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert toml.read_text() == 'log_level = "info"\n' and os.stat(toml).st_mode & 0o777 == 0o600
    with sqlite3.connect(data / "vomeet.db") as db:
        assert {row[0] for row in db.execute("SELECT id FROM meetings")} == set(meetings.values())

    # The restored box, with its restored settings, serves the old users with their old tokens.
    new_box = Appliance(data, {**fresh, "VOMEET_CONFIG_FILE": str(toml)}, port).start()
    try:
        for token, meeting_id in meetings.items():
            with new_box.client(token) as client:
                answer = client.get(f"/meetings/{meeting_id}")
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "completed"
    finally:
        new_box.stop()


@pytest.fixture
def small_backup(tmp_path: Path) -> Path:
    (tmp_path / "vomeet.toml").write_text('log_level = "info"\n')
    env = appliance_env(tmp_path / "source", free_port(), config_file=str(tmp_path / "vomeet.toml"))
    assert vomeet(env, "admin", "create-user", "ada@example.com").returncode == 0
    archive = tmp_path / "small.tar.gz"
    assert vomeet(env, "backup", str(archive)).returncode == 0
    return archive


def rewritten(archive: Path, into: Path, change_manifest: dict[str, object]) -> Path:
    """The same archive with fields of its manifest changed."""
    with tarfile.open(archive) as source, tarfile.open(into, "w:gz") as target:
        for member in source:
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                data = json.dumps({**json.loads(data), **change_manifest}).encode()
                member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    return into


def test_damaged_foreign_and_newer_archives_are_refused_untouched(small_backup: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("the operator's own file")
    env = appliance_env(target, free_port())
    before = listing(target)

    damaged = tmp_path / "damaged.tar.gz"
    raw = bytearray(gzip.decompress(small_backup.read_bytes()))
    raw[len(raw) // 2] ^= 0xFF  # one byte inside the database copy
    damaged.write_bytes(gzip.compress(bytes(raw)))
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        tar.add(REPO / "README.md", arcname="README.md")
    newer = rewritten(small_backup, tmp_path / "newer.tar.gz", {"schema_revision": "9999", "vomeet_version": "9.0.0"})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(small_backup.read_bytes()[:2000])

    for archive, reason in ((damaged, "does not match its checksum"), (foreign, "not a Vomeet backup"),
                            (newer, "newer than this vomeet"), (truncated, "damaged")):
        answer = vomeet(env, "restore", str(archive))
        assert answer.returncode != 0, archive
        assert reason in " ".join(answer.stderr.split()), (archive, answer.stderr)
        assert "vomeet 9.0.0" in answer.stderr or archive is not newer
        assert listing(target) == before, f"{archive.name} changed the data directory"


def test_restore_next_to_existing_data_needs_replace_and_keeps_it_aside(small_backup: Path, tmp_path: Path) -> None:
    env = appliance_env(tmp_path / "box", free_port())
    assert vomeet(env, "admin", "create-user", "existing@example.com").returncode == 0
    refused = vomeet(env, "restore", str(small_backup))
    assert refused.returncode != 0 and "--replace" in refused.stderr
    settings_file = tmp_path / "vomeet.toml"  # where the backup's settings came from
    settings_file.write_text('log_level = "debug"\n')
    settings_file.chmod(0o640)  # as the installer leaves it: root:vomeet 0640
    assert vomeet(env, "restore", "--replace", str(small_backup)).returncode == 0, "restore --replace"
    assert settings_file.read_text() == 'log_level = "info"\n'
    assert settings_file.stat().st_mode & 0o777 == 0o640  # rewritten in place, still readable by the service
    with sqlite3.connect(tmp_path / "box" / "vomeet.db") as db:
        assert [row[0] for row in db.execute("SELECT email FROM users")] == ["ada@example.com"]
    (aside,) = (tmp_path / "box").glob("pre-restore-*")
    with sqlite3.connect(aside / "vomeet.db") as db:
        assert [row[0] for row in db.execute("SELECT email FROM users")] == ["existing@example.com"]
