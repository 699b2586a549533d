"""Google and Microsoft connections through the real sync engine (appliance/calendars/sync.py) on
a migrated SQLite file, against the test doubles: what is stored, when the next sync is due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from appliance.calendars import service, sync
from appliance.calendars.oauth_connections import (
    create_organisation_wide,
    google_draft,
    google_workspace_draft,
    microsoft_app_draft,
)
from appliance.calendars.secrets import SecretBox
from appliance.calendars.service import ConnectionDraft
from appliance.config import Settings
from appliance.db.models import CalendarConnection, CalendarEventRecord, User
from tests.calendars.conftest import Box, run
from tests.calendars.providers.google_double import GoogleDouble, service_account
from tests.calendars.providers.microsoft_double import GraphDouble
from tests.calendars.providers.test_google import event as google_event
from tests.calendars.providers.test_microsoft import event as graph_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ALICE, BOB = "alice@example.com", "bob@example.com"


def pointed_at(settings: Settings, google: GoogleDouble | None = None, graph: GraphDouble | None = None) -> Settings:
    update: dict[str, object] = {}
    if google:
        update |= {"calendar_google_api_url": google.api_url, "calendar_google_token_url": google.token_url,
                   "calendar_google_client_id": google.client_id}
    if graph:
        update |= {"calendar_microsoft_graph_url": graph.graph_url, "calendar_microsoft_login_url": graph.base_url}
    return settings.model_copy(update=update)


async def _user(box: Box, email: str) -> User:
    async with box.db.session() as session:
        found = await session.scalar(select(User).where(User.email == email))
    assert found is not None
    return found


async def _rows(box: Box) -> list[tuple[str, str, str, bool]]:
    async with box.db.session() as session:
        rows = await session.scalars(select(CalendarEventRecord).order_by(CalendarEventRecord.id))
        return [(r.owner_email, r.uid, r.instance_key, r.cancelled) for r in rows]


def test_rate_limits_move_the_next_sync_and_an_ended_token_resyncs_without_duplicates(
        settings: Settings, google: GoogleDouble, tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(google.client_secret)
    configured = pointed_at(settings, google=google).model_copy(
        update={"calendar_google_client_secret_file": secret_file})
    for n in range(3):
        google.put(ALICE, google_event(f"m{n}", f"2026-12-0{2 + n}T10:00:00Z", f"2026-12-0{2 + n}T11:00:00Z"))

    async def scenario(box: Box) -> None:
        draft = await google_draft(configured, code=None, code_verifier=None, redirect_uri=None,
                                   refresh_token=google.issue_refresh_token(ALICE), name=None, rules={})
        connection_id = (await service.create(box, await _user(box, ALICE), draft, NOW)).connection_id
        assert len(await _rows(box)) == 3

        google.rate_limited.append((429, 900))
        t1 = NOW + timedelta(minutes=5)
        outcome = await sync.sync_connection(box, connection_id, t1)
        assert outcome is not None and not outcome.ok
        assert outcome.next_sync_at == t1 + timedelta(seconds=900)  # Retry-After, not the usual backoff

        google.expired_sync_tokens = True  # 410: the engine reads the window again, in full
        google.put(ALICE, google_event("m3", "2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z"))
        t2 = t1 + timedelta(minutes=20)
        outcome = await sync.sync_connection(box, connection_id, t2)
        assert outcome is not None and outcome.ok, outcome
        rows = await _rows(box)
        assert len(rows) == len(set(rows)) == 4 and not any(cancelled for *_, cancelled in rows)
        async with box.db.session() as session:
            connection = await session.get(CalendarConnection, connection_id)
        assert connection is not None and connection.last_error is None
        assert connection.next_sync_at == t2 + timedelta(seconds=configured.calendar_sync_interval_s)
        assert connection.cursor and google.refresh_tokens
        assert all(t not in connection.cursor for t in google.refresh_tokens)

    run(configured, scenario)


def test_organisation_wide_google_and_microsoft_store_each_users_events_as_theirs(
        settings: Settings, google: GoogleDouble, graph: GraphDouble) -> None:
    configured = pointed_at(settings, google=google, graph=graph)
    key, public_key = service_account()
    google.service_accounts[key["client_email"]] = public_key
    google.put(ALICE, google_event("g-alice", "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"))
    google.put(BOB, google_event("g-bob", "2026-12-02T12:00:00Z", "2026-12-02T13:00:00Z"))
    graph.tenant = "example.com"
    graph.put(ALICE, graph_event("m-alice", "2026-12-03T10:00:00", "2026-12-03T11:00:00"))
    graph.put(BOB, graph_event("m-bob", "2026-12-03T12:00:00", "2026-12-03T13:00:00"))

    async def scenario(box: Box) -> None:
        emails = [ALICE, BOB, "carol@example.com"]
        workspace = google_workspace_draft(json.dumps(key), None, None, {})
        google.events.setdefault("carol@example.com", {})  # carol has an empty calendar
        graph.events.setdefault("carol@example.com", {})
        made = await create_organisation_wide(box, workspace, NOW, emails)
        app = microsoft_app_draft(graph.tenant, graph.app_id, graph.app_secret, "example.com", None, {})
        await create_organisation_wide(box, app, NOW, emails)
        async with box.db.session() as session:
            connection = await session.get(CalendarConnection, made.connection_id)
            assert connection is not None and connection.user_id is None
            assert key["private_key"].encode() not in connection.secret  # sealed
        owners = sorted((owner, uid) for owner, uid, _, _ in await _rows(box))
        assert owners == [(ALICE, "040000008200E0-m-alice"), (ALICE, "g-alice@google.com"),
                          (BOB, "040000008200E0-m-bob"), (BOB, "g-bob@google.com")]
        # The engine's own sync passes every user's address (sync.connection_spec).
        google.put(BOB, google_event("g-bob-2", "2026-12-04T12:00:00Z", "2026-12-04T13:00:00Z"))
        outcome = await sync.sync_connection(box, made.connection_id, NOW + timedelta(minutes=5))
        assert outcome is not None and outcome.ok and outcome.upserted == 1

    run(configured, scenario)


def test_a_refresh_token_microsoft_replaced_is_the_one_stored(settings: Settings, graph: GraphDouble) -> None:
    configured = pointed_at(settings, graph=graph).model_copy(update={
        "calendar_microsoft_client_id": graph.client_id, "calendar_microsoft_tenant": graph.tenant})
    graph.put(ALICE, graph_event("m-alice", "2026-12-03T10:00:00", "2026-12-03T11:00:00"))
    first_token = graph.issue_refresh_token(ALICE)

    async def stored_refresh_token(box: Box, connection_id: int) -> str:
        async with box.db.session() as session:
            connection = await session.get(CalendarConnection, connection_id)
        assert connection is not None
        return SecretBox.for_data_dir(configured.data_dir).open(connection.secret)["refresh_token"]

    async def scenario(box: Box) -> None:
        draft = ConnectionDraft("microsoft", "Work", {"refresh_token": first_token}, "Microsoft account")
        connection_id = (await service.create(box, await _user(box, ALICE), draft, NOW)).connection_id
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))
        assert outcome is not None and outcome.ok
        # The creation's read spent the first token; Microsoft answered with a new one.
        issued = [t for t, user in graph.refresh_tokens.items() if user == ALICE and t != first_token]
        assert await stored_refresh_token(box, connection_id) == issued[-1]
        graph.revoke_token(first_token)  # it expires on its own date: the box no longer needs it
        graph.expire_access_tokens()
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=10))
        assert outcome is not None and outcome.ok, outcome

    run(configured, scenario)
