"""iCalendar text -> `CalendarEvent` instances, and the meeting link an event carries.

ICS feeds and CalDAV collections both hand over iCalendar; `icalendar` parses it and
`recurring-ical-events` expands it in the sync window (RRULE, RDATE, EXDATE, RECURRENCE-ID
overrides, VTIMEZONE and X-WR-TIMEZONE), so no recurrence or time-zone rule is written here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timezone
from typing import Any

import icalendar
import recurring_ical_events

from appliance.calendars.provider import (
    ATTENDEE_STATUSES,
    SINGLE_INSTANCE,
    AttendeeStatus,
    CalendarEvent,
    SyncError,
)
from appliance.config import Settings
from appliance.meeting_urls import BOT_PLATFORMS, MeetingUrlError, parse_url

# Where invitations put the link, in the order it is looked for: the dedicated fields first (a
# description may also quote an unrelated link).
LINK_FIELDS = ("X-GOOGLE-CONFERENCE", "X-MICROSOFT-SKYPETEAMSMEETINGURL", "URL", "LOCATION", "DESCRIPTION")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+")
_PRIVATE_CLASSES = {"PRIVATE", "CONFIDENTIAL"}


def find_meeting_url(texts: Iterable[str | None], settings: Settings) -> str | None:
    """The first link in `texts` that a bot can join (Google Meet or Teams), as written."""
    for text in texts:
        for match in _URL.finditer(text or ""):
            url = match.group(0).rstrip(".,;>")
            try:
                ref = parse_url(url, settings)
            except MeetingUrlError:
                continue
            if ref.platform in BOT_PLATFORMS:
                return url
    return None


def parse_calendars(payload: bytes | str) -> list[icalendar.Calendar]:
    """Every VCALENDAR in `payload` (a CalDAV object or a feed); a clear SyncError if none."""
    try:
        calendars = icalendar.Calendar.from_ical(payload, multiple=True)
    except ValueError as exc:
        raise SyncError(f"the calendar data is not valid iCalendar ({exc})") from None
    if not calendars:
        raise SyncError("the answer holds no VCALENDAR: is this an iCalendar (.ics) address?")
    return list(calendars)


def _utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        # Floating times name no zone; the box assumes UTC rather than its own zone.
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return datetime.combine(value, time(), tzinfo=timezone.utc)


def _moment(prop: Any) -> date | datetime:
    """The date or date-time of a DTSTART/DTEND/RECURRENCE-ID property."""
    value = getattr(prop, "dt", None)
    if not isinstance(value, date):
        raise SyncError(f"an event has a time that is not a date or date-time ({prop!r})")
    return value


def _key(value: date | datetime) -> str:
    return value.isoformat() if not isinstance(value, datetime) else _utc(value).isoformat()


def _email(value: Any) -> str | None:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.lower() or None


def _attendee_status(component: Any, owner: str, organizer: str | None) -> AttendeeStatus | None:
    attendees = component.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        if _email(attendee) == owner:
            status = str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).lower()
            return status if status in ATTENDEE_STATUSES else None  # type: ignore[return-value]
    return "accepted" if organizer == owner else None


def recurring_uids(calendars: Iterable[icalendar.Calendar]) -> set[str]:
    """UIDs of series: a rule, extra dates, or an overridden instance (RECURRENCE-ID)."""
    uids: set[str] = set()
    for calendar in calendars:
        for component in calendar.walk("VEVENT"):
            if any(name in component for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
                uids.add(str(component.get("UID", "")))
    return uids


def expand(
    calendars: Iterable[icalendar.Calendar], owner_email: str, window_start: datetime,
    window_end: datetime, settings: Settings,
) -> Iterator[CalendarEvent]:
    """Every instance overlapping the window, as `owner_email`'s calendar shows it."""
    calendars = list(calendars)
    series = recurring_uids(calendars)
    owner = owner_email.lower()
    for calendar in calendars:
        try:
            occurrences = recurring_ical_events.of(calendar).between(window_start, window_end)
        except (ValueError, TypeError) as exc:
            raise SyncError(f"the calendar's recurrences cannot be expanded ({exc})") from None
        for component in occurrences:
            yield _instance(component, series, owner, settings)


def _instance(component: Any, series: set[str], owner: str, settings: Settings) -> CalendarEvent:
    uid = str(component.get("UID", ""))
    start = _moment(component.get("DTSTART"))
    # The expander sets DTEND on every occurrence (from DURATION, or as the start).
    end = _moment(component.get("DTEND")) if component.get("DTEND") is not None else start
    recurrence_id = component.get("RECURRENCE-ID")
    key = _key(_moment(recurrence_id)) if uid in series and recurrence_id is not None else SINGLE_INSTANCE
    organizer = _email(component.get("ORGANIZER"))
    return CalendarEvent(
        uid=uid,
        instance_key=key,
        start_at=_utc(start),
        end_at=_utc(end),
        title=str(component.get("SUMMARY", "")),
        meeting_url=find_meeting_url((str(component.get(name) or "") for name in LINK_FIELDS), settings),
        organizer_email=organizer,
        attendee_status=_attendee_status(component, owner, organizer),
        is_private=str(component.get("CLASS", "PUBLIC")).upper() in _PRIVATE_CLASSES,
        cancelled=str(component.get("STATUS", "")).upper() == "CANCELLED",
        owner_email=owner,
        all_day=not isinstance(start, datetime),
    )
