"""Fan-out of live events to WebSocket subscribers, never slowed by a slow one.

Each connection owns a bounded queue. Publishing only puts frames into queues (no awaiting
on sockets); a connection whose queue is full is dropped, and its client reconnects with
`since` to replay what it missed from the database. A connection is ended (its socket closed
by its sender) when it overflows or when the credential it was opened with is withdrawn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from appliance.events import Event, SegmentsChanged, StatusChanged
from appliance.live.sockets import OpenSockets

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
CLOSE_TOO_SLOW = 1013  # "try again later": reconnect with `since`


class Subscriber:
    """One /ws connection: who opened it (user, and the API token or console session used),
    its bounded queue of frames, and whether it has been ended."""

    def __init__(self, user_id: int, token_id: int | None = None, console_session_id: int | None = None) -> None:
        self.user_id = user_id
        self.token_id = token_id
        self.console_session_id = console_session_id
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = asyncio.Event()
        self.ended = asyncio.Event()
        self.close_code = 1000
        self.close_reason = ""
        self.meetings: set[int] = set()
        self.reading: set[int] = set()  # meetings of other users this one may read (their readers)

    def end(self, code: int, reason: str) -> None:
        """Nothing more is queued; the connection's sender closes the socket with `code`."""
        if not self.ended.is_set():
            self.close_code, self.close_reason = code, reason
            self.ended.set()

    def offer(self, frame: dict[str, Any]) -> None:
        if self.ended.is_set():
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed.set()
            self.end(CLOSE_TOO_SLOW, "too slow; reconnect with since to catch up")


class LiveHub:
    def __init__(self) -> None:
        self._by_meeting: defaultdict[int, set[Subscriber]] = defaultdict(set)
        self.sockets = OpenSockets()  # every open connection, subscribed or not

    def subscribe(self, subscriber: Subscriber, meeting_id: int) -> None:
        subscriber.meetings.add(meeting_id)
        self._by_meeting[meeting_id].add(subscriber)

    def unsubscribe(self, subscriber: Subscriber, meeting_id: int) -> None:
        subscriber.meetings.discard(meeting_id)
        watchers = self._by_meeting.get(meeting_id)
        if watchers is not None:
            watchers.discard(subscriber)
            if not watchers:
                del self._by_meeting[meeting_id]

    def drop(self, subscriber: Subscriber) -> None:
        for meeting_id in list(subscriber.meetings):
            self.unsubscribe(subscriber, meeting_id)

    def subscriber_count(self) -> int:
        return len({s for watchers in self._by_meeting.values() for s in watchers})

    async def on_event(self, event: Event) -> None:
        watchers = self._by_meeting.get(event.meeting_id)
        if not watchers:
            return
        frame = frame_for(event)
        for subscriber in list(watchers):
            if subscriber.user_id == event.user_id or event.meeting_id in subscriber.reading:
                subscriber.offer(frame)


def frame_for(event: Event) -> dict[str, Any]:
    if isinstance(event, StatusChanged):
        payload: dict[str, Any] = {"status": event.status}
        if event.reason:
            payload["reason"] = event.reason
        return {
            "type": "meeting.status",
            "meeting": {"id": event.meeting_id, "platform": event.platform, "native_id": event.native_meeting_id},
            "payload": payload,
            "ts": event.at.isoformat(),
        }
    assert isinstance(event, SegmentsChanged)
    return {
        "type": "transcript.mutable",
        "meeting": {"id": event.meeting_id},
        "payload": {"segments": event.segments},
        "ts": event.at.isoformat(),
    }
