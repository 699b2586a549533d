"""CalDAV against a real Radicale server started by the test: a connection made with a login,
events created, moved and cancelled, a series with a moved instance and an EXDATE, time zones,
the sync token used on the next sync (only the change comes back), and a token the server no
longer accepts answered with a full read that adds no duplicate."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from appliance.calendars import service, sync
from appliance.calendars.caldav_source import CalDavCalendars
from appliance.calendars.provider import SINGLE_INSTANCE, SyncError
from appliance.config import Settings
from appliance.db.models import CalendarConnection, CalendarEventRecord, User
from tests.calendars.conftest import MEETING_HOST, USERS, Box, RadicaleServer, run

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
ALICE = "alice@example.com"
UTC = timezone.utc


def event_ics(uid: str, start: str, end: str, summary: str, *extra: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Vomeet tests//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20261101T000000Z", f"DTSTART{start}", f"DTEND{end}", f"SUMMARY:{summary}", *extra,
             "END:VEVENT"]
    return "\r\n".join(lines) + "\r\nEND:VCALENDAR\r\n"


def series_ics(uid: str, *, exdates: str) -> str:
    """Daily at 10:00 Berlin, 2-5 December; the 3rd moved an hour later."""
    master = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z", "DTSTART;TZID=Europe/Berlin:20261202T100000",
              "DTEND;TZID=Europe/Berlin:20261202T110000", "SUMMARY:Daily", "RRULE:FREQ=DAILY;COUNT=4",
              f"EXDATE;TZID=Europe/Berlin:{exdates}", f"LOCATION:{MEETING_HOST}/dai-lyyy-syn", "END:VEVENT"]
    moved = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z",
             "RECURRENCE-ID;TZID=Europe/Berlin:20261203T100000", "DTSTART;TZID=Europe/Berlin:20261203T110000",
             "DTEND;TZID=Europe/Berlin:20261203T120000", "SUMMARY:Daily (moved)", "END:VEVENT"]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Vomeet tests//EN", *master, *moved,
                        "END:VCALENDAR"]) + "\r\n"


def new_calendar(radicale: RadicaleServer) -> str:
    return radicale.make_calendar(ALICE, f"work-{uuid.uuid4().hex[:8]}")


async def _connect(box: Box, url: str, password: str = USERS[ALICE]) -> int:
    async with box.db.session() as session:
        alice = await session.get(User, 1)
    assert alice is not None
    outcome = await service.create(box, alice, service.caldav_draft(url, ALICE, password, None, {}), NOW)
    return outcome.connection_id


async def _events(box: Box) -> dict[tuple[str, str], CalendarEventRecord]:
    async with box.db.session() as session:
        return {(r.uid, r.instance_key): r for r in await session.scalars(select(CalendarEventRecord))}


def test_create_move_cancel_and_time_zones(settings: Settings, radicale: RadicaleServer) -> None:
    url = new_calendar(radicale)
    radicale.put(url, ALICE, "ny.ics", event_ics("ny@x", ";TZID=America/New_York:20261202T090000",
                                                  ";TZID=America/New_York:20261202T100000", "New York",
                                                  f"DESCRIPTION:Join at {MEETING_HOST}/nyc-abcd-efg today"))
    radicale.put(url, ALICE, "in.ics", event_ics("in@x", ";TZID=Asia/Kolkata:20261202T093000",
                                                  ";TZID=Asia/Kolkata:20261202T103000", "Kolkata"))
    radicale.put(url, ALICE, "day.ics", event_ics("day@x", ";VALUE=DATE:20261203", ";VALUE=DATE:20261204", "Day"))

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, url)
        events = await _events(box)
        assert set(events) == {("ny@x", SINGLE_INSTANCE), ("in@x", SINGLE_INSTANCE), ("day@x", SINGLE_INSTANCE)}
        assert events["ny@x", SINGLE_INSTANCE].start_at == datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
        assert events["ny@x", SINGLE_INSTANCE].meeting_url == f"{MEETING_HOST}/nyc-abcd-efg"
        assert events["in@x", SINGLE_INSTANCE].start_at == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
        assert events["day@x", SINGLE_INSTANCE].all_day

        radicale.put(url, ALICE, "ny.ics", event_ics("ny@x", ";TZID=America/New_York:20261202T130000",
                                                      ";TZID=America/New_York:20261202T140000", "New York",
                                                      f"DESCRIPTION:Join at {MEETING_HOST}/nyc-abcd-efg today"))
        radicale.delete(url, ALICE, "in.ics")
        radicale.put(url, ALICE, "day.ics", event_ics("day@x", ";VALUE=DATE:20261203", ";VALUE=DATE:20261204",
                                                       "Day", "STATUS:CANCELLED"))
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))
        assert outcome is not None and outcome.ok, outcome
        events = await _events(box)
        assert len(events) == 3
        assert events["ny@x", SINGLE_INSTANCE].start_at == datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
        assert events["in@x", SINGLE_INSTANCE].cancelled  # deleted on the server
        assert events["day@x", SINGLE_INSTANCE].cancelled  # STATUS:CANCELLED
        assert not events["ny@x", SINGLE_INSTANCE].cancelled

    run(settings, scenario)


def test_a_series_with_a_moved_instance_and_an_exdate(settings: Settings, radicale: RadicaleServer) -> None:
    url = new_calendar(radicale)
    radicale.put(url, ALICE, "daily.ics", series_ics("daily@x", exdates="20261204T100000"))

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, url)
        events = await _events(box)
        # 2, 3 (moved to 11:00) and 5 December; the 4th is excluded. Berlin is UTC+1 in winter.
        assert {k: (e.start_at, e.title) for k, e in events.items()} == {
            ("daily@x", "2026-12-02T09:00:00+00:00"): (datetime(2026, 12, 2, 9, 0, tzinfo=UTC), "Daily"),
            ("daily@x", "2026-12-03T09:00:00+00:00"): (datetime(2026, 12, 3, 10, 0, tzinfo=UTC), "Daily (moved)"),
            ("daily@x", "2026-12-05T09:00:00+00:00"): (datetime(2026, 12, 5, 9, 0, tzinfo=UTC), "Daily"),
        }
        # One more date excluded: that instance goes, the others stay as they were.
        radicale.put(url, ALICE, "daily.ics", series_ics("daily@x", exdates="20261204T100000,20261205T100000"))
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))
        assert outcome is not None and outcome.ok and outcome.gone == 1
        events = await _events(box)
        assert events["daily@x", "2026-12-05T09:00:00+00:00"].cancelled
        assert not events["daily@x", "2026-12-02T09:00:00+00:00"].cancelled

    run(settings, scenario)


def test_the_sync_token_brings_only_the_change(settings: Settings, radicale: RadicaleServer) -> None:
    url = new_calendar(radicale)
    radicale.put(url, ALICE, "a.ics", event_ics("a@x", ":20261202T100000Z", ":20261202T110000Z", "A"))
    radicale.put(url, ALICE, "b.ics", event_ics("b@x", ":20261202T120000Z", ":20261202T130000Z", "B"))
    source = CalDavCalendars(url, ALICE, USERS[ALICE], ALICE, settings)
    start, end = sync.window(settings, NOW)

    async def scenario(box: Box) -> None:
        first = await source.sync(None, start, end)
        assert first.full and {e.uid for e in first.events} == {"a@x", "b@x"}
        radicale.put(url, ALICE, "c.ics", event_ics("c@x", ":20261203T100000Z", ":20261203T110000Z", "C"))
        second = await source.sync(first.cursor, start, end)
        assert not second.full and [e.uid for e in second.events] == ["c@x"]
        radicale.delete(url, ALICE, "a.ics")
        third = await source.sync(second.cursor, start, end)
        assert (third.events, third.removed, third.full) == ((), ("a@x",), False)
        assert third.cursor is not None
        assert json.loads(third.cursor)[url]["token"] != json.loads(second.cursor or "{}")[url]["token"]

    run(settings, scenario)


def test_an_invalid_token_forces_a_full_resync_without_duplicates(settings: Settings, radicale: RadicaleServer) -> None:
    url = new_calendar(radicale)
    radicale.put(url, ALICE, "daily.ics", series_ics("daily@x", exdates="20261204T100000"))
    radicale.put(url, ALICE, "a.ics", event_ics("a@x", ":20261202T100000Z", ":20261202T110000Z", "A"))
    start, end = sync.window(settings, NOW)

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, url)
        async with box.db.session() as session:
            connection = await session.get(CalendarConnection, connection_id)
            assert connection is not None and connection.cursor is not None
            state = json.loads(connection.cursor)
            state[url]["token"] = "http://radicale.org/ns/sync/" + "0" * 64  # a token the server never gave
            connection.cursor = json.dumps(state)
            await session.commit()
        source = CalDavCalendars(url, ALICE, USERS[ALICE], ALICE, settings)
        try:
            await source.sync(json.dumps(state), start, end)
        except SyncError as exc:
            assert exc.cursor_expired
        else:
            raise AssertionError("an unknown sync token was accepted")

        radicale.put(url, ALICE, "b.ics", event_ics("b@x", ":20261202T120000Z", ":20261202T130000Z", "B"))
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(minutes=5))
        assert outcome is not None and outcome.ok, outcome
        async with box.db.session() as session:
            count = await session.scalar(select(func.count()).select_from(CalendarEventRecord))
            connection = await session.get(CalendarConnection, connection_id)
        assert count == 5  # three daily instances, a, b: each once
        assert connection is not None and json.loads(connection.cursor or "{}")[url]["token"] != state[url]["token"]

    run(settings, scenario)


def test_a_wrong_password_is_refused_at_creation(settings: Settings, radicale: RadicaleServer) -> None:
    url = new_calendar(radicale)

    async def scenario(box: Box) -> str:
        try:
            await _connect(box, url, password="not-the-password")
        except service.ConnectionRefused as exc:
            return str(exc)
        raise AssertionError("a wrong password was accepted")

    message = run(settings, scenario)
    assert message.startswith(f"the calendar could not be read: 127.0.0.1 refused the login for {ALICE}")
    assert "not-the-password" not in message


def test_the_server_address_reads_every_calendar_of_the_login(settings: Settings, radicale: RadicaleServer) -> None:
    """Given the server rather than a calendar, the calendars are found from the login's principal."""
    home, work = new_calendar(radicale), new_calendar(radicale)
    radicale.put(home, ALICE, "h.ics", event_ics("home@x", ":20261202T100000Z", ":20261202T110000Z", "Home"))
    radicale.put(work, ALICE, "w.ics", event_ics("work@x", ":20261202T120000Z", ":20261202T130000Z", "Work"))
    source = CalDavCalendars(radicale.base_url + "/", ALICE, USERS[ALICE], ALICE, settings)
    start, end = sync.window(settings, NOW)

    async def scenario(box: Box) -> None:
        listing = await source.sync(None, start, end)
        assert {"home@x", "work@x"} <= {e.uid for e in listing.events} and listing.full
        assert {home, work} <= set(json.loads(listing.cursor or "{}"))

    run(settings, scenario)


def test_instances_entering_the_window_are_found_though_nothing_changed(
    settings: Settings, radicale: RadicaleServer
) -> None:
    """A sync token brings only changed objects, and an untouched series expands no further by
    itself: once the window has moved on, the calendar is read whole again."""
    url = new_calendar(radicale)
    radicale.put(url, ALICE, "daily.ics", event_ics("long@x", ":20261202T100000Z", ":20261202T103000Z", "Long",
                                                     "RRULE:FREQ=DAILY;COUNT=30"))

    async def scenario(box: Box) -> None:
        connection_id = await _connect(box, url)
        assert ("long@x", "2026-12-16T10:00:00+00:00") not in await _events(box)  # past the window's end
        soon = await sync.sync_connection(box, connection_id, NOW + timedelta(hours=1))
        assert soon is not None and soon.ok and soon.upserted == 0  # incremental: nothing changed
        outcome = await sync.sync_connection(box, connection_id, NOW + timedelta(days=1))
        assert outcome is not None and outcome.ok
        events = await _events(box)
        assert ("long@x", "2026-12-16T10:00:00+00:00") in events
        assert len(events) == 15 and not any(e.cancelled for e in events.values())  # 2-16 December

    run(settings, scenario)
