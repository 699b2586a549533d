"""The sign-in endpoints (appliance/api/routes/calendar_oauth.py) on a real `vomeet serve` whose
Google and Microsoft endpoints point at the test doubles: what a user and an administrator get."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from appliance.calendars import oauth
from client.google_signin import new_pkce
from tests.calendars.providers.google_double import GoogleDouble, service_account
from tests.calendars.providers.microsoft_double import GraphDouble
from tests.calendars.providers.test_google import event as google_event
from tests.calendars.providers.test_microsoft import event as graph_event
from tests.conftest import Appliance, appliance_env, free_port, wait_until


@pytest.fixture(scope="module")
def doubles() -> Iterator[tuple[GoogleDouble, GraphDouble]]:
    google, graph = GoogleDouble().start(), GraphDouble(interval_s=1).start()
    yield google, graph
    google.stop()
    graph.stop()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, doubles: tuple[GoogleDouble, GraphDouble]) -> Iterator[Appliance]:
    google, graph = doubles
    root = tmp_path_factory.mktemp("oauth-api")
    (root / "google-secret").write_text(google.client_secret)
    port = free_port()
    env = appliance_env(
        root / "data", port, calendar_google_api_url=google.api_url, calendar_google_token_url=google.token_url,
        calendar_google_client_id=google.client_id, calendar_google_client_secret_file=str(root / "google-secret"),
        calendar_microsoft_graph_url=graph.graph_url, calendar_microsoft_login_url=graph.base_url,
        calendar_microsoft_client_id=graph.client_id, calendar_microsoft_tenant=graph.tenant)
    app = Appliance(root / "data", env, port).start()
    yield app
    app.stop()


def _soon(days: int) -> tuple[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return (start.strftime("%Y-%m-%dT%H:%M:%S"), (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))


def _stored_secret(app: Appliance, connection_id: int) -> bytes:
    with closing(sqlite3.connect(app.data_dir / "vomeet.db")) as conn:
        row = conn.execute("SELECT secret FROM calendar_connections WHERE id = ?", (connection_id,)).fetchone()
    return bytes(row[0])


def test_a_microsoft_device_sign_in_through_the_api(box: Appliance, doubles: tuple[GoogleDouble, GraphDouble]) -> None:
    _, graph = doubles
    email = "dana@contoso.example"
    _, token = box.new_user(email)
    _, other = box.new_user("eve@contoso.example")
    start, end = _soon(2)
    graph.put(email, graph_event("sprint", start, end))
    with box.client(token) as client, box.client(other) as stranger:
        started = client.post("/calendars/microsoft/device", json={"name": "Work"})
        assert started.status_code == 201, started.text
        flow = started.json()
        assert flow["status"] == "pending" and flow["user_code"] and flow["verification_uri"]
        assert stranger.get(f"/calendars/microsoft/device/{flow['id']}").status_code == 404

        graph.approve(flow["user_code"], email)
        def finished() -> dict | None:
            answer = client.get(f"/calendars/microsoft/device/{flow['id']}").json()
            return answer if answer["status"] != "pending" else None

        done = wait_until(finished, 30, 0.2, "the box to see the approval")
        assert done["status"] == "connected", done
        listed = client.get("/calendars")
        assert [(c["kind"], c["name"], c["upcoming_events"]) for c in listed.json()["calendars"]] == [
            ("microsoft", "Work", 1)]
        refresh_tokens = set(graph.refresh_tokens)
        assert not any(t in listed.text for t in refresh_tokens)
        assert not any(t.encode() in _stored_secret(box, done["calendar_id"]) for t in refresh_tokens)
        assert stranger.get("/calendars").json()["calendars"] == []


def test_google_code_hand_over_through_the_api(box: Appliance, doubles: tuple[GoogleDouble, GraphDouble]) -> None:
    google, _ = doubles
    email = "frank@example.com"
    _, token = box.new_user(email)
    start, end = _soon(3)
    google.put(email, google_event("one-to-one", start + "Z", end + "Z"))
    with box.client(token) as client:
        client_info = client.get("/calendars/google/client").json()
        assert client_info["client_id"] == google.client_id and client_info["scope"] == oauth.GOOGLE_CALENDAR_SCOPE
        pkce = new_pkce()  # what the desktop client makes (client/google_signin.py)
        verifier, challenge = pkce.verifier, pkce.challenge
        redirect = "http://127.0.0.1:53682/"
        code = google.issue_code(email, challenge, redirect)
        wrong = client.post("/calendars/google", json={"code": code, "code_verifier": "x" * 43,
                                                        "redirect_uri": redirect})
        assert wrong.status_code == 422 and "invalid_grant" in wrong.json()["detail"]
        code = google.issue_code(email, challenge, redirect)
        made = client.post("/calendars/google", json={"code": code, "code_verifier": verifier,
                                                       "redirect_uri": redirect})
        assert made.status_code == 201, made.text
        assert (made.json()["kind"], made.json()["upcoming_events"]) == ("google", 1)
        assert code not in made.text and not any(t in made.text for t in google.refresh_tokens)


def test_organisation_wide_access_is_for_administrators(box: Appliance,
                                                        doubles: tuple[GoogleDouble, GraphDouble]) -> None:
    google, _ = doubles
    key, public_key = service_account()
    google.service_accounts[key["client_email"]] = public_key
    _, token = box.new_user("gina@example.com")
    start, end = _soon(4)
    google.put("gina@example.com", google_event("all-hands", start + "Z", end + "Z"))
    with closing(sqlite3.connect(box.data_dir / "vomeet.db")) as conn:
        for (email,) in conn.execute("SELECT email FROM users"):
            google.events.setdefault(email, {})  # every user is in the Workspace domain
    body = {"kind": "google", "service_account_key": json.dumps(key), "domain": "example.com"}
    with box.client(token) as user:
        assert user.post("/admin/calendars", json=body).status_code in (401, 403)
    with box.admin() as admin:
        made = admin.post("/admin/calendars", json=body)
        assert made.status_code == 201, made.text
        assert key["private_key"] not in made.text and made.json()["hint"] == key["client_email"]
        assert [c["id"] for c in admin.get("/admin/calendars").json()["calendars"]] == [made.json()["id"]]
        assert admin.delete(f"/admin/calendars/{made.json()['id']}").status_code == 204
        assert admin.get("/admin/calendars").json()["calendars"] == []
        refused = admin.post("/admin/calendars", json={"kind": "microsoft", "tenant": "t"})
        assert refused.status_code == 422
