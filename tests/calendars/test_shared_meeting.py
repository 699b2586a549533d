"""Three users with the same meeting on their own CalDAV calendars (Radicale): three connections,
one scheduled meeting, three readers; the organiser moving it moves that one meeting."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from appliance.calendars import service, sync
from appliance.config import Settings
from appliance.db.models import ScheduledMeeting, ScheduledMeetingReader, User
from tests.calendars.conftest import MEETING_HOST, USERS, Box, RadicaleServer, run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def invitation(start: str, end: str) -> str:
    organiser, *guests = USERS
    attendees = [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{email}" for email in guests]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Vomeet tests//EN", "BEGIN:VEVENT",
             "UID:quarterly-review@example.com", "DTSTAMP:20261101T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             "SUMMARY:Quarterly review", f"LOCATION:{MEETING_HOST}/thr-eeus-ers", f"ORGANIZER:mailto:{organiser}",
             *attendees, "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def test_one_bot_and_three_readers(settings: Settings, radicale: RadicaleServer) -> None:
    calendars = {email: radicale.make_calendar(email, "shared-review") for email in USERS}
    for email, url in calendars.items():
        radicale.put(url, email, "review.ics", invitation("20261203T150000Z", "20261203T160000Z"))

    async def scenario(box: Box) -> tuple[list[tuple[datetime, str]], set[int]]:
        connections = []
        for user_id, (email, url) in enumerate(calendars.items(), start=1):
            async with box.db.session() as session:
                user = await session.get(User, user_id)
            assert user is not None and user.email == email
            draft = service.caldav_draft(url, email, USERS[email], None, {})
            connections.append((await service.create(box, user, draft, NOW)).connection_id)
        for email, url in calendars.items():  # the organiser moves it; every copy follows
            radicale.put(url, email, "review.ics", invitation("20261203T170000Z", "20261203T180000Z"))
        for connection_id in connections:
            outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))
            assert outcome is not None and outcome.ok, outcome
        async with box.db.session() as session:
            meetings = [(m.start_at, m.state) for m in await session.scalars(select(ScheduledMeeting))]
            readers = set(await session.scalars(select(ScheduledMeetingReader.user_id)))
        return meetings, readers

    meetings, readers = run(settings, scenario)
    assert meetings == [(datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc), "scheduled")]
    assert readers == {1, 2, 3}
