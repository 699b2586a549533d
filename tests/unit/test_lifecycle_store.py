"""LifecycleStore.move against a real, migrated SQLite database in a temp data dir.

The stored rows are read back with the stdlib sqlite3 driver, independently of the ORM.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appliance.config import Settings
from appliance.db import migrate
from appliance.db.engine import Database
from appliance.db.models import Meeting
from appliance.events import EventHub, StatusChanged
from appliance.lifecycle import IllegalTransition, MeetingStatus, TransitionSource
from appliance.meetings.lifecycle_store import LifecycleStore
from appliance.relay import OutboxRelay
from tests.db_helpers import migrated_settings_with_user
from tests.unit.test_lifecycle import CONTRACT_MOVES, PAIRS

T = TypeVar("T")
S = MeetingStatus


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return migrated_settings_with_user(tmp_path_factory.mktemp("lifecycle") / "data", "store@example.com")


def stored(settings: Settings, meeting_id: int) -> sqlite3.Row:
    with closing(sqlite3.connect(settings.database_path)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM meetings WHERE id = ?", (meeting_id,)).fetchone()
    assert row is not None
    return row


def run_with_events(
    settings: Settings, work: Callable[[LifecycleStore, list[StatusChanged], Database], Awaitable[T]]
) -> tuple[T, list[StatusChanged]]:
    """Runs `work` with a store on the settings' database; returns its result and the events published."""

    async def main() -> tuple[T, list[StatusChanged]]:
        db = Database(settings)
        hub = EventHub()
        events: list[StatusChanged] = []

        async def collect(event: StatusChanged) -> None:
            events.append(event)

        hub.subscribe(collect)  # type: ignore[arg-type]  # the store publishes only StatusChanged
        try:
            return await work(LifecycleStore(db, OutboxRelay(db, hub, None)), events, db), events
        finally:
            await db.dispose()

    return asyncio.run(main())


def run(settings: Settings, work: Callable[[LifecycleStore, list[StatusChanged], Database], Awaitable[T]]) -> T:
    return run_with_events(settings, work)[0]


async def new_meeting(db: Database, status: str) -> int:
    async with db.session() as session:
        meeting = Meeting(
            user_id=1, platform="google_meet", native_meeting_id="abc-defg-hij",
            constructed_meeting_url="https://meet.google.com/abc-defg-hij", status=status,
            data={}, transitions=[],
        )
        session.add(meeting)
        await session.commit()
        return meeting.id


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_every_pair_through_the_store(settings: Settings, current: str, target: str) -> None:
    reason = "stopped" if target == "completed" else "because"

    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> tuple[int, Any]:
        meeting_id = await new_meeting(db, current)
        try:
            _, changed = await store.move(meeting_id, S(target), TransitionSource.BOT, reason=reason)
            return meeting_id, changed
        except IllegalTransition as exc:
            return meeting_id, exc

    (meeting_id, outcome), events_seen = run_with_events(settings, work)
    row = stored(settings, meeting_id)
    log = json.loads(row["transitions"])
    if target in CONTRACT_MOVES[current]:
        assert outcome is True
        assert row["status"] == target
        [entry] = log
        assert (entry["from"], entry["to"], entry["source"], entry["reason"]) == (current, target, "bot", reason)
        assert datetime.fromisoformat(entry["at"]).tzinfo is not None
        assert [(e.previous, e.status) for e in events_seen] == [(current, target)]
    elif current == target and target not in ("completed", "failed"):
        # A bot repeating its last report (its answer was lost) is a harmless no-op.
        assert outcome is False
        assert row["status"] == current and log == [] and events_seen == []
    else:
        assert isinstance(outcome, IllegalTransition)
        assert row["status"] == current, "a refused move must not be applied"
        assert log == [] and events_seen == []


def test_a_whole_meeting_is_recorded_move_by_move(settings: Settings) -> None:
    moves = [
        (S.JOINING, TransitionSource.BOT, None),
        (S.AWAITING_ADMISSION, TransitionSource.BOT, None),
        (S.ACTIVE, TransitionSource.BOT, "admitted"),
        (S.STOPPING, TransitionSource.USER, "stop requested"),
        (S.COMPLETED, TransitionSource.BOT, "left_alone"),
    ]

    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> tuple[int, list[Any]]:
        meeting_id = await new_meeting(db, "requested")
        starts = []
        for target, source, reason in moves:
            meeting, changed = await store.move(meeting_id, target, source, reason=reason)
            assert changed and meeting.status == target
            starts.append(meeting.start_time)
        return meeting_id, starts

    (meeting_id, start_times), events = run_with_events(settings, work)
    row = stored(settings, meeting_id)
    assert row["status"] == "completed"
    assert row["completion_reason"] == "left_alone"
    assert row["failure_stage"] is None
    assert row["start_time"] is not None and row["end_time"] is not None
    assert row["end_time"] >= row["start_time"]
    # start_time is set when the bot becomes active and never moved afterwards.
    assert start_times[:2] == [None, None] and start_times[2] is not None
    assert len(set(start_times[2:])) == 1
    log = json.loads(row["transitions"])
    assert [(e["from"], e["to"], e["source"], e["reason"]) for e in log] == [
        ("requested", "joining", "bot", None),
        ("joining", "awaiting_admission", "bot", None),
        ("awaiting_admission", "active", "bot", "admitted"),
        ("active", "stopping", "user", "stop requested"),
        ("stopping", "completed", "bot", "left_alone"),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in log]
    assert times == sorted(times)
    assert [(e.previous, e.status, e.source, e.reason) for e in events] == [
        (e["from"], e["to"], e["source"], e["reason"]) for e in log
    ]
    assert all(e.meeting_id == meeting_id and e.user_id == 1 for e in events)


@pytest.mark.parametrize(
    ("state", "stage"),
    [("requested", "requested"), ("joining", "joining"), ("awaiting_admission", "awaiting_admission"),
     ("active", "active"), ("stopping", "active")],
)
def test_failure_stage_is_derived_by_the_server(settings: Settings, state: str, stage: str) -> None:
    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> int:
        meeting_id = await new_meeting(db, state)
        await store.move(meeting_id, S.FAILED, TransitionSource.SYSTEM, error_details="chromium crashed")
        return meeting_id

    row = stored(settings, run(settings, work))
    assert (row["status"], row["failure_stage"], row["error_details"]) == ("failed", stage, "chromium crashed")
    assert row["completion_reason"] is None and row["end_time"] is not None
    [entry] = json.loads(row["transitions"])
    assert entry["source"] == "system" and entry["error_details"] == "chromium crashed"


@pytest.mark.parametrize("reason", ["finished", None, "STOPPED"])
def test_an_unknown_completion_reason_is_refused_and_nothing_changes(settings: Settings, reason: str | None) -> None:
    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> tuple[int, int]:
        meeting_id = await new_meeting(db, "active")
        with pytest.raises(IllegalTransition):
            await store.move(meeting_id, S.COMPLETED, TransitionSource.BOT, reason=reason)
        return meeting_id, len(events)

    meeting_id, published = run(settings, work)
    row = stored(settings, meeting_id)
    assert (row["status"], row["completion_reason"], row["end_time"], row["transitions"]) == (
        "active", None, None, "[]"
    )
    assert published == 0


def test_two_racing_final_reports_end_the_meeting_once(settings: Settings) -> None:
    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> tuple[int, list[Any]]:
        meeting_id = await new_meeting(db, "stopping")
        outcomes = await asyncio.gather(
            store.move(meeting_id, S.COMPLETED, TransitionSource.BOT, reason="stopped"),
            store.move(meeting_id, S.FAILED, TransitionSource.SYSTEM, error_details="killed"),
            return_exceptions=True,
        )
        return meeting_id, list(outcomes)

    meeting_id, outcomes = run(settings, work)
    assert sum(isinstance(o, IllegalTransition) for o in outcomes) == 1
    row = stored(settings, meeting_id)
    assert len(json.loads(row["transitions"])) == 1
    assert row["status"] in ("completed", "failed")


def test_moving_a_meeting_that_does_not_exist(settings: Settings) -> None:
    async def work(store: LifecycleStore, events: list[StatusChanged], db: Database) -> None:
        await store.move(999_999, S.JOINING, TransitionSource.BOT)

    with pytest.raises(LookupError):
        run(settings, work)


def test_the_database_is_a_real_file(settings: Settings) -> None:
    assert Path(settings.database_path).stat().st_size > 0
    assert migrate.current_revision(settings) == migrate.head_revision(settings)
