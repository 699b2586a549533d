"""Authentication on every endpoint (401s), and what is really stored for tokens and keys."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from appliance.api.app import public_api
from appliance.api.endpoint import Auth
from tests.api.conftest import ApiUser, ApplianceDb
from tests.conftest import Appliance

BOT = {"platform": "google_meet", "native_meeting_id": "abc-defg-hij"}
USER_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/bots", BOT),
    ("GET", "/bots/status", None),
    ("DELETE", "/bots/google_meet/abc-defg-hij", None),
    ("PUT", "/bots/google_meet/abc-defg-hij/config", {"language": "en"}),
    ("GET", "/meetings", None),
    ("GET", "/meetings/1", None),
    ("PATCH", "/meetings/google_meet/abc-defg-hij", {"data": {"name": "x"}}),
    ("DELETE", "/meetings/google_meet/abc-defg-hij", None),
    ("GET", "/transcripts/google_meet/abc-defg-hij", None),
    ("POST", "/transcripts/google_meet/abc-defg-hij/share", {}),
    ("GET", "/transcripts/google_meet/abc-defg-hij/shares", None),
    ("DELETE", "/transcripts/google_meet/abc-defg-hij/shares/1", None),
    ("GET", "/recordings", None),
    ("GET", "/recordings/1", None),
    ("DELETE", "/recordings/1", None),
    ("GET", "/recordings/1/media/1/raw", None),
    ("PUT", "/user/webhook", {"webhook_url": "https://hooks.example/x"}),
    ("GET", "/user/webhook", None),
    ("DELETE", "/user/webhook", None),
    ("GET", "/user/webhook/deliveries", None),
    ("GET", "/search", None),
    ("GET", "/devices", None),
    ("DELETE", "/devices/1", None),
    ("POST", "/calendars", {"kind": "ics", "url": "https://calendar.example/feed.ics"}),
    ("GET", "/calendars", None),
    ("GET", "/calendars/1", None),
    ("POST", "/calendars/1/test", None),
    ("POST", "/calendars/1/sync", None),
    ("PATCH", "/calendars/1", {"rules": {"mode": "all"}}),
    ("DELETE", "/calendars/1", None),
    ("GET", "/calendars/google/client", None),
    ("POST", "/calendars/google", {"refresh_token": "x"}),
    ("POST", "/calendars/microsoft/device", {}),
    ("GET", "/calendars/microsoft/device/1", None),
    ("GET", "/scheduled", None),
    ("GET", "/scheduled/1", None),
    ("PATCH", "/scheduled/1", {"override": "skip"}),
    ("DELETE", "/scheduled/1", None),
]
ADMIN_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/admin/users", {"email": "auth-probe@example.com"}),
    ("GET", "/admin/users", None),
    ("GET", "/admin/users/1", None),
    ("GET", "/admin/users/email/auth-probe@example.com", None),
    ("PATCH", "/admin/users/1", {"name": "x"}),
    ("POST", "/admin/users/1/tokens", None),
    ("DELETE", "/admin/tokens/1", None),
    ("GET", "/admin/system", None),
    ("GET", "/metrics", None),
    ("POST", "/admin/calendars", {"kind": "google"}),
    ("GET", "/admin/calendars", None),
    ("DELETE", "/admin/calendars/1", None),
]
BOT_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/internal/bot/status", {"status": "joining"}),
    ("GET", "/internal/bot/command", None),
    ("POST", "/internal/bot/segments", {"segments": []}),
    ("POST", "/internal/bot/speakers", {"turns": []}),
]
# OpenAI-compatible: a user key, also as a bearer token; their 401s are in tests/api/test_openai_audio.py.
OPENAI_ENDPOINTS = [("POST", "/v1/audio/transcriptions"), ("POST", "/v1/audio/translations")]
BOT_KINDS = {Auth.BOT, Auth.BOT_TAIL}  # a bot token; BOT_TAIL also shortly after the meeting ended


def call(client: httpx.Client, method: str, path: str, body: dict[str, Any] | None, **headers: str) -> httpx.Response:
    return client.request(method, path, json=body, headers=headers)


def template(path: str) -> str:
    """/meetings/1 -> /meetings/{}: compare concrete paths with route templates."""
    return re.sub(r"/(\d+|abc-defg-hij|google_meet|auth-probe@example\.com)(?=/|$)", "/{}", path)


def test_the_lists_above_cover_every_protected_endpoint() -> None:
    declared = {
        (spec.method, re.sub(r"{[^}]+}", "{}", spec.path), Auth.BOT if spec.auth in BOT_KINDS else spec.auth)
        for spec in public_api().specs if spec.auth != Auth.PUBLIC
    }
    listed = (
        {(m, template(p), Auth.USER) for m, p, _ in USER_ENDPOINTS}
        | {(m, template(p), Auth.ADMIN) for m, p, _ in ADMIN_ENDPOINTS}
        | {(m, template(p), Auth.BOT) for m, p, _ in BOT_ENDPOINTS}
        | {(m, p, Auth.OPENAI_USER) for m, p in OPENAI_ENDPOINTS}
    )
    assert listed == declared


@pytest.mark.parametrize(("method", "path", "body"), USER_ENDPOINTS)
def test_user_endpoints_need_a_valid_user_key(appliance: Appliance, method: str, path: str, body: Any) -> None:
    with appliance.client() as client:
        missing = call(client, method, path, body)
        assert missing.status_code == 401, missing.text
        assert "Missing API key" in missing.json()["detail"]
        invalid = call(client, method, path, body, **{"X-API-Key": "vmt_" + "A" * 43})
        assert invalid.status_code == 401
        assert "Invalid API key" in invalid.json()["detail"]
        # The admin key is not a user key, wherever it is sent.
        admin_as_user = call(client, method, path, body, **{"X-API-Key": appliance.admin_key})
        assert admin_as_user.status_code == 401
        admin_header = call(client, method, path, body, **{"X-Admin-API-Key": appliance.admin_key})
        assert admin_header.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ENDPOINTS)
def test_admin_endpoints_need_the_admin_key(
    appliance: Appliance, make_user: Any, method: str, path: str, body: Any
) -> None:
    user: ApiUser = make_user()
    with appliance.client() as client:
        missing = call(client, method, path, body)
        assert missing.status_code == 401
        assert "Missing admin key" in missing.json()["detail"]
        invalid = call(client, method, path, body, **{"X-Admin-API-Key": "vma_" + "B" * 43})
        assert invalid.status_code == 401
        assert "Invalid admin key" in invalid.json()["detail"]
        user_as_admin = call(client, method, path, body, **{"X-Admin-API-Key": user.token})
        assert user_as_admin.status_code == 401
        user_header = call(client, method, path, body, **{"X-API-Key": user.token})
        assert user_header.status_code == 401
        user_bearer = call(client, method, path, body, Authorization=f"Bearer {user.token}")
        assert user_bearer.status_code == 401
    assert not any(u["email"] == "auth-probe@example.com" for u in _all_users(appliance))


def _all_users(appliance: Appliance) -> list[dict[str, Any]]:
    with appliance.admin() as admin:
        return list(admin.get("/admin/users", params={"limit": 1000}).json())


@pytest.mark.parametrize(("method", "path", "body"), BOT_ENDPOINTS)
def test_bot_endpoints_take_only_a_bot_token(
    appliance: Appliance, make_user: Any, method: str, path: str, body: Any
) -> None:
    user: ApiUser = make_user()
    with appliance.client() as client:
        assert call(client, method, path, body).status_code == 401
        for key in (user.token, appliance.admin_key, "vmb_" + "C" * 43):
            answer = call(client, method, path, body, Authorization=f"Bearer {key}")
            assert answer.status_code == 401, key[:4]
        assert call(client, method, path, body, **{"X-API-Key": user.token}).status_code == 401


def test_a_revoked_or_made_up_key_is_401_with_a_json_detail(appliance: Appliance) -> None:
    with httpx.Client(base_url=appliance.base_url, headers={"X-API-Key": "nonsense"}) as client:
        answer = client.get("/meetings")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/json")
    assert set(answer.json()) == {"detail"}


def stored_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def test_only_hashes_of_tokens_and_admin_keys_are_stored(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    user: ApiUser = make_user()
    assert user.client.get("/meetings").status_code == 200
    digest = hashlib.sha256(user.token.encode()).hexdigest()
    [row] = db.rows("SELECT prefix, token_hash FROM api_tokens WHERE user_id = ?", user.id)
    assert row["token_hash"] == digest
    assert user.token.startswith(row["prefix"]) and 4 < len(row["prefix"]) <= 16
    admin_digest = hashlib.sha256(appliance.admin_key.encode()).hexdigest()
    [admin_row] = db.rows("SELECT prefix, key_hash FROM admin_keys WHERE key_hash = ?", admin_digest)
    assert appliance.admin_key.startswith(admin_row["prefix"]) and len(admin_row["prefix"]) <= 16

    on_disk = db.stored_bytes()
    assert digest.encode() in on_disk  # the check below looks at the right bytes
    assert user.token.encode() not in on_disk
    assert user.token[len(row["prefix"]):].encode() not in on_disk
    assert appliance.admin_key.encode() not in on_disk
    for table, column in (("api_tokens", "prefix"), ("admin_keys", "prefix")):
        for stored in db.rows(f"SELECT {column} FROM {table}"):
            assert len(stored[column]) <= 16


def test_last_used_at_is_kept_for_tokens_and_the_admin_key(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    with appliance.admin() as admin:
        user = admin.post("/admin/users", json={"email": f"last-used-{uuid.uuid4().hex[:8]}@example.com"}).json()
        issued = admin.post(f"/admin/users/{user['id']}/tokens").json()
        [fresh] = db.rows("SELECT last_used_at FROM api_tokens WHERE id = ?", issued["id"])
        assert fresh["last_used_at"] is None
        assert admin.get(f"/admin/users/{user['id']}").json()["tokens"][0]["last_used_at"] is None

        with appliance.client(issued["token"]) as client:
            assert client.get("/bots/status").status_code == 200
        [used] = db.rows("SELECT last_used_at FROM api_tokens WHERE id = ?", issued["id"])
        when = stored_time(used["last_used_at"])
        assert when is not None and abs(datetime.now(timezone.utc) - when) < timedelta(minutes=1)
        shown = admin.get(f"/admin/users/{user['id']}").json()["tokens"][0]["last_used_at"]
        assert shown is not None

    admin_digest = hashlib.sha256(appliance.admin_key.encode()).hexdigest()
    [admin_row] = db.rows("SELECT last_used_at FROM admin_keys WHERE key_hash = ?", admin_digest)
    admin_when = stored_time(admin_row["last_used_at"])
    assert admin_when is not None and abs(datetime.now(timezone.utc) - admin_when) < timedelta(minutes=2)


def test_public_endpoints_need_no_key(appliance: Appliance) -> None:
    with httpx.Client(base_url=appliance.base_url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/public/transcripts/vms_nothing.txt").status_code == 404
