"""The console's building blocks on a real SQLite file: passwords, lockout, redirects, logs, backup."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from admin_ui import admins, lockout, passwords, system
from admin_ui.web import local_path
from appliance.config import load_settings
from appliance.db import migrate
from appliance.db.engine import run_in_session
from appliance.db.models import LoginAttempt, utcnow


@pytest.fixture
def database(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "data")
    migrate.upgrade(settings)
    return settings


def run(settings, work):
    """Run `work(session)` to completion, in a thread of its own: Playwright's sync API keeps an
    event loop running in the main thread once a browser test has run."""

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run_in_session(settings, work))).result()


def test_passwords_are_argon2_and_verified(database) -> None:
    first = run(database, admins.ensure_first_admin)
    assert first and run(database, admins.ensure_first_admin) is None  # only once
    stored = sqlite3.connect(database.database_path).execute("SELECT password_hash FROM console_admins").fetchone()[0]
    assert stored.startswith("$argon2id$") and first not in stored
    assert run(database, lambda s: admins.authenticate(s, "admin", first)) is not None
    assert run(database, lambda s: admins.authenticate(s, "admin", first + "x")) is None
    assert run(database, lambda s: admins.authenticate(s, "nobody", first)) is None
    with pytest.raises(passwords.WeakPassword):
        run(database, lambda s: admins.set_password(s, "admin", "short"))
    assert run(database, lambda s: admins.set_password(s, "ops", "a long enough password")) is True
    assert run(database, lambda s: admins.authenticate(s, "ops", "a long enough password")) is not None


def test_lockout_counts_failures_per_account_and_per_address(database) -> None:
    async def fail(session, account: str, client: str, times: int) -> None:
        for _ in range(times):
            await lockout.record(session, account, client, False)

    run(database, lambda s: fail(s, "admin:a", "10.0.0.1", 4))
    run(database, lambda s: lockout.check(s, "admin:a", "10.0.0.1"))  # four: not yet
    run(database, lambda s: lockout.record(s, "admin:a", "10.0.0.1", True))
    run(database, lambda s: fail(s, "admin:a", "10.0.0.2", 4))
    run(database, lambda s: lockout.check(s, "admin:a", "10.0.0.2"))  # the success reset the account
    run(database, lambda s: fail(s, "admin:b", "10.0.0.1", 1))
    with pytest.raises(lockout.LockedOut):  # the address: 5 failures, a success does not reset it
        run(database, lambda s: lockout.check(s, "admin:c", "10.0.0.1"))
    run(database, lambda s: fail(s, "admin:a", "10.0.0.3", 1))
    with pytest.raises(lockout.LockedOut) as locked:
        run(database, lambda s: lockout.check(s, "admin:a", "10.0.0.9"))
    assert "15 minutes" in str(locked.value)

    async def age(session) -> None:
        await session.execute(update(LoginAttempt).values(at=utcnow() - timedelta(minutes=16)))
        await session.commit()

    run(database, age)
    run(database, lambda s: lockout.check(s, "admin:a", "10.0.0.1"))  # the window has passed


def test_redirects_stay_on_the_console() -> None:
    assert local_path("/ui/meetings?q=a") == "/ui/meetings?q=a"
    for outside in ("https://evil.example/ui", "//evil.example/ui", "/admin/users", "", None):
        assert local_path(outside) == "/ui"


def test_log_tail_and_backup(tmp_path: Path, database) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "worker.log").write_text("".join(f"line {i}\n" for i in range(5000)))
    tail = system.log_tail(logs, "worker", max_bytes=100)
    assert tail.endswith("line 4999\n") and tail.startswith("line ")
    assert system.log_tail(logs, "../data/vomeet") == ""  # only logs that exist by name
    run(database, admins.ensure_first_admin)
    copy = system.backup_database(database.database_path, tmp_path)
    with sqlite3.connect(copy) as backup:
        assert backup.execute("SELECT username FROM console_admins").fetchone() == ("admin",)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    shown = dict(system.describe_settings(load_settings(data_dir=tmp_path)))
    assert shown["data_dir"] == str(tmp_path)


def test_cli_sets_a_console_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
    env["VOMEET_DATA_DIR"] = str(tmp_path / "data")
    command = [sys.executable, "-m", "appliance", "admin", "set-password", "--username", "ops"]
    done = subprocess.run([*command, "--password", "a long enough password"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "created console administrator ops" in done.stderr
    weak = subprocess.run([*command, "--password", "short"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert weak.returncode != 0 and "at least 10 characters" in weak.stderr
    settings = load_settings(data_dir=tmp_path / "data")
    assert run(settings, lambda s: admins.authenticate(s, "ops", "a long enough password")) is not None
