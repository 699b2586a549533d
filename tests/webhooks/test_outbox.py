"""The outbox: a status move and its events commit together; the relay hands them on in order,
and resumes after a crash. Against a real SQLite file, and the real appliance and worker."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from appliance.config import Settings
from appliance.db.engine import Database
from appliance.db.models import Meeting
from appliance.events import EventHub, StatusChanged
from appliance.lifecycle import MeetingStatus, TransitionSource
from appliance.meetings.lifecycle_store import LifecycleStore
from appliance.outbox import event_id
from appliance.relay import OutboxRelay
from tests.conftest import Appliance, HangingMeetingHost, wait_until
from tests.db_helpers import migrated_settings_with_user
from tests.webhooks.test_webhooks import Receiver, _send_and_stop_bot


class CrashedRelay(OutboxRelay):
    """The process died right after the move's commit: nothing is relayed."""

    async def flush(self) -> int:
        return 0


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    configured = migrated_settings_with_user(tmp_path / "data", "outbox@example.com")
    with closing(sqlite3.connect(configured.database_path)) as conn, conn:
        conn.execute("UPDATE users SET webhook_url = 'http://192.168.0.9/hook' WHERE id = 1")
    return configured


def test_a_move_commits_with_its_events_and_a_later_relay_delivers_them(settings: Settings) -> None:
    published: list[StatusChanged] = []

    async def main() -> int:
        db = Database(settings)
        hub = EventHub()

        async def collect(event: StatusChanged) -> None:
            published.append(event)

        hub.subscribe(collect)  # type: ignore[arg-type]
        try:
            async with db.session() as session:
                meeting = Meeting(user_id=1, platform="google_meet", native_meeting_id="out-boxx-tst",
                                  constructed_meeting_url="https://meet.google.com/out-boxx-tst", status="active")
                session.add(meeting)
                await session.commit()
            store = LifecycleStore(db, CrashedRelay(db, hub, None))
            await store.move(meeting.id, MeetingStatus.STOPPING, TransitionSource.USER)
            await store.move(meeting.id, MeetingStatus.COMPLETED, TransitionSource.BOT, reason="stopped")
            # Committed together: the status and every event, none relayed, no delivery yet.
            assert rows(settings, "SELECT status FROM meetings") == [("completed",)]
            assert rows(settings, "SELECT COUNT(*) FROM webhook_deliveries") == [(0,)]
            assert published == []
            relayed = await OutboxRelay(db, hub, None).start()  # the next start
            assert await OutboxRelay(db, hub, None).start() == 0  # relayed once
            return relayed
        finally:
            await db.dispose()

    assert asyncio.run(main()) == 4
    meeting_id = rows(settings, "SELECT id FROM meetings")[0][0]
    expected = [
        ("meeting.status_change", event_id("meeting.status_change", f"{meeting_id}:active->stopping")),
        ("meeting.status_change", event_id("meeting.status_change", f"{meeting_id}:stopping->completed")),
        ("meeting.completed", event_id("meeting.completed", str(meeting_id))),
        ("transcript.ready", event_id("transcript.ready", str(meeting_id))),
    ]
    assert rows(settings, "SELECT event_type, event_id FROM outbox_events ORDER BY id") == expected
    assert rows(settings, "SELECT COUNT(*) FROM outbox_events WHERE relayed_at IS NULL") == [(0,)]
    assert rows(settings, "SELECT event_type, event_id FROM webhook_deliveries ORDER BY id") == expected
    assert [(e.previous, e.status) for e in published] == [("active", "stopping"), ("stopping", "completed")]


def test_outbox_ids_are_never_reused(settings: Settings) -> None:
    with closing(sqlite3.connect(settings.database_path)) as conn, conn:
        insert = ("INSERT INTO outbox_events (event_id, event_type, user_id, data, created_at) "
                  "VALUES (?, 'meeting.completed', 1, '{}', '2026-12-01 00:00:00')")
        conn.execute(insert, ("evt_a",))
        conn.execute("DELETE FROM outbox_events")
        conn.execute(insert, ("evt_b",))
    assert rows(settings, "SELECT id FROM outbox_events") == [(2,)]


def first_receipts(receiver: Receiver) -> list[str]:
    """Event ids in the order they first reached the receiver."""
    seen: list[str] = []
    for request in receiver.received:
        if request.json["event_id"] not in seen:
            seen.append(request.json["event_id"])
    return seen


def events_of_a_stopped_meeting(meeting_id: int) -> list[str]:
    """The event ids of a meeting stopped by its user while joining, in the order they happen."""
    return [
        event_id("meeting.status_change", f"{meeting_id}:requested->joining"),
        event_id("meeting.status_change", f"{meeting_id}:joining->stopping"),
        event_id("meeting.status_change", f"{meeting_id}:stopping->completed"),
        event_id("meeting.completed", str(meeting_id)),
        event_id("transcript.ready", str(meeting_id)),
    ]


def test_a_kill_right_after_a_status_commit_loses_no_webhook(
    make_appliance, hanging_host: HangingMeetingHost, receiver: Receiver, tmp_path: Path
) -> None:
    state = tmp_path / "faults"
    state.mkdir()
    app: Appliance = make_appliance(
        google_meet_base_url=hanging_host.base_url, webhook_allow_internal_targets="true",
        webhook_retry_base_s="1", fault_points="lifecycle.after_commit:2", fault_state=str(state),
    ).start()
    _, token = app.new_user("kill@example.com")
    with app.client(token) as client:
        assert client.put("/user/webhook", json={"webhook_url": receiver.url}).status_code == 200
        created = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "kil-lrig-htt"})
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        wait_until(lambda: client.get(f"/meetings/{meeting_id}").json()["status"] == "joining", 60,
                   what="the bot to report joining")
        # The second move (the user's stop) commits, then the process dies before relaying it.
        try:
            client.delete("/bots/google_meet/kil-lrig-htt")
        except Exception:  # the connection dies with the process
            pass
    assert app.process is not None
    wait_until(lambda: app.process.poll() is not None, 30, what="the fault point to kill vomeet serve")
    assert (state / "lifecycle.after_commit.fired").exists()

    app.start()  # as systemd would; the bot survived and is adopted
    with app.client(token) as client:
        stopped = client.get(f"/meetings/{meeting_id}").json()
        assert stopped["status"] in ("stopping", "completed")
        wait_until(lambda: client.get(f"/meetings/{meeting_id}").json()["status"] == "completed", 60,
                   what="the adopted bot to leave")
    wait_until(lambda: len(first_receipts(receiver)) == 5, 60, what="all five events to arrive")
    assert first_receipts(receiver) == events_of_a_stopped_meeting(meeting_id)


def test_a_meetings_deliveries_wait_for_an_earlier_one_being_retried(
    make_appliance, hanging_host: HangingMeetingHost, receiver: Receiver
) -> None:
    app: Appliance = make_appliance(
        google_meet_base_url=hanging_host.base_url, webhook_allow_internal_targets="true",
        webhook_retry_base_s="1",
    ).start()
    _, token = app.new_user("order@example.com")
    with app.client(token) as client:
        assert client.put("/user/webhook", json={"webhook_url": receiver.url}).status_code == 200
    receiver.answer = 503
    meeting_id = _send_and_stop_bot(app, token, "ord-erre-try")
    with app.client(token) as client:
        # Every event is stored and owed; only the first has been tried.
        wait_until(lambda: len(client.get("/user/webhook/deliveries").json()["deliveries"]) == 5, 30,
                   what="the five deliveries to be written")
    wait_until(lambda: receiver.received, 30, what="the first attempt")
    assert first_receipts(receiver) == [event_id("meeting.status_change", f"{meeting_id}:requested->joining")]
    receiver.answer = 200
    wait_until(lambda: len(first_receipts(receiver)) == 5, 60, what="the rest to follow once the first is through")
    assert first_receipts(receiver) == events_of_a_stopped_meeting(meeting_id)
