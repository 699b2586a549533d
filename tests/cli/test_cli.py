"""The `vomeet` command as an administrator uses it, against a real data directory."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO, Appliance, appliance_env, free_port


def vomeet(data_dir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = appliance_env(data_dir, free_port())
    env.update({f"VOMEET_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_admin_commands_manage_users_and_tokens(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = vomeet(data, "admin", "create-user", "Grace@Example.com", "--name", "Grace", "--max-bots", "3")
    assert created.returncode == 0, created.stderr
    assert "created user 1 <grace@example.com>" in created.stderr
    again = vomeet(data, "admin", "create-user", "grace@example.com")
    assert "exists: user 1" in again.stderr

    issued = vomeet(data, "admin", "create-token", "grace@example.com")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("vmt_") and len(token) > 40

    listing = vomeet(data, "admin", "list-users")
    assert "grace@example.com" in listing.stdout and token[:12] in listing.stdout

    with sqlite3.connect(data / "vomeet.db") as db:
        stored = db.execute("SELECT id, token_hash FROM api_tokens").fetchall()
    assert len(stored) == 1 and token not in stored[0][1]

    revoked = vomeet(data, "admin", "revoke-token", str(stored[0][0]))
    assert revoked.returncode == 0, revoked.stderr
    with sqlite3.connect(data / "vomeet.db") as db:
        assert db.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0


def test_unknown_user_or_token_is_a_clear_error(tmp_path: Path) -> None:
    missing = vomeet(tmp_path / "data", "admin", "create-token", "nobody@example.com")
    assert missing.returncode != 0
    assert "no user nobody@example.com" in missing.stderr
    bad_email = vomeet(tmp_path / "data", "admin", "create-user", "not-an-email")
    assert bad_email.returncode == 2 and "e-mail" in bad_email.stderr


def test_invalid_setting_names_the_setting_and_the_fix(tmp_path: Path) -> None:
    result = vomeet(tmp_path / "data", "doctor", port="70000")
    assert result.returncode == 2
    assert "VOMEET_PORT" in result.stderr and "65535" in result.stderr


def test_admin_key_from_file_is_accepted_and_too_short_refused(make_appliance, tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("tooshort")
    refused = vomeet(tmp_path / "data0", "doctor", admin_api_key_file=str(short))
    assert refused.returncode == 2 and "VOMEET_ADMIN_API_KEY_FILE" in refused.stderr

    key_file = tmp_path / "admin.key"
    key = "file-provided-admin-key-0123456789abcdef"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    app: Appliance = make_appliance(admin_api_key_file=str(key_file))
    app.start()
    assert app.admin_key == "", "no key may be generated or printed when one is given by file"
    answer = httpx.get(f"{app.base_url}/admin/users", headers={"X-Admin-API-Key": key}, timeout=10)
    assert answer.status_code == 200, answer.text
    log = app.log_path.read_text()
    assert key not in log


def test_doctor_reports_each_check(tmp_path: Path) -> None:
    data = tmp_path / "data"
    vomeet(data, "migrate")
    result = vomeet(data, "doctor")
    for check in ("data directory", "database", "chromium", "whisper model", "api port", "asr server"):
        assert check in result.stdout
    assert " at revision " in result.stdout and "problem" not in result.stdout
    assert result.returncode == 0, result.stdout
