"""The scheduler on a real, migrated SQLite file with the appliance's own services, and a clock
the test sets (`now`): nothing sleeps, every sweep is told what time it is.

Bots are started by the real process runtime (`vomeet bot`). No appliance answers on the port
they are given, so each ends by itself; the tests look at the meeting rows the sweep made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from appliance.api.schemas import segment_json
from appliance.calendars.provider import SINGLE_INSTANCE, CalendarEvent
from appliance.config import Settings, load_settings
from appliance.db import migrate
from appliance.db.models import Meeting, ScheduledMeeting, ScheduledMeetingReader, User
from appliance.scheduling import CalendarEntry, reconcile
from appliance.services import Services
from tests.api.conftest import db, make_user  # noqa: F401  (the API tests' fixtures, for the server tests here)
from tests.calendars.conftest import radicale  # noqa: F401  (a real CalDAV server, for the end-to-end test)
from tests.conftest import free_port
from tests.mock_meetings.fixtures import mock_control, mock_meetings  # noqa: F401

T = TypeVar("T")
# A Monday morning far enough ahead that the real clock of a running appliance never reaches it.
T0 = datetime(2031, 3, 3, 9, 0, tzinfo=timezone.utc)
MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    configured = load_settings(
        data_dir=tmp_path / "data", port=free_port(), bot_stop_grace_s=2, default_max_concurrent_bots=0,
        schedule_lead_s=60, schedule_skip_after_s=600,
        # The test machine is shared: admission by CPU or memory is not what these tests check.
        capacity_cpu_cores=1000, capacity_memory_headroom_mb=0,
    )
    migrate.upgrade(configured)
    yield configured


@asynccontextmanager
async def services_on(settings: Settings) -> AsyncIterator[Services]:
    """The API process's services, built on the settings' files (a "restart" builds them again)."""
    services = Services.build(settings, segment_json)
    try:
        yield services
    finally:
        await services.close()


def run(settings: Settings, scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(scenario())


async def add_user(services: Services, email: str, **data: Any) -> User:
    async with services.db.session() as session:
        user = User(email=email, max_concurrent_bots=0, data=dict(data))
        session.add(user)
        await session.commit()
        return user


def event(
    uid: str = "standup", start: datetime = T0, owner: str = "ann@example.com", *, minutes: int = 30,
    url: str | None = MEET, title: str = "Stand-up", status: str | None = "accepted",
    organizer: str | None = "boss@example.com", private: bool = False, cancelled: bool = False,
    instance_key: str = SINGLE_INSTANCE,
) -> CalendarEvent:
    return CalendarEvent(
        uid=uid, instance_key=instance_key, start_at=start, end_at=start + timedelta(minutes=minutes),
        title=title, meeting_url=url, organizer_email=organizer, attendee_status=status,  # type: ignore[arg-type]
        is_private=private, cancelled=cancelled, owner_email=owner,
    )


def entry(user: User, ev: CalendarEvent, connection_id: int = 1, rules: dict[str, Any] | None = None) -> CalendarEntry:
    return CalendarEntry(connection_id=connection_id, user_id=user.id, kind="caldav", event=ev, rules=rules)


async def sync(services: Services, now: datetime, *entries: CalendarEntry, gone: tuple[str, ...] = ()) -> None:
    """What the calendar engine does after storing events: reconcile in its session, commit."""
    async with services.db.session() as session:
        await reconcile(session, now, list(entries), gone, settings=services.settings)
        await session.commit()


async def scheduled_rows(services: Services) -> list[ScheduledMeeting]:
    async with services.db.session() as session:
        return list((await session.scalars(select(ScheduledMeeting).order_by(ScheduledMeeting.id))).all())


async def meetings_of(services: Services, scheduled_id: int) -> list[Meeting]:
    async with services.db.session() as session:
        return list((await session.scalars(
            select(Meeting).where(Meeting.scheduled_meeting_id == scheduled_id).order_by(Meeting.id)
        )).all())


async def readers_of(services: Services, scheduled_id: int) -> list[int]:
    async with services.db.session() as session:
        return list((await session.scalars(
            select(ScheduledMeetingReader.user_id)
            .where(ScheduledMeetingReader.scheduled_meeting_id == scheduled_id)
            .order_by(ScheduledMeetingReader.id)
        )).all())
