"""A meeting's live transcript over `/ws` (contract section 6), in a thread of its own.

    transcript = LiveTranscript()
    feed = LiveFeed(lambda: api.ws_url, api.token, pinned_context(pins), meeting_id, transcript,
                    on_segments=..., on_status=..., on_connection=...)
    feed.start() ... feed.stop()

The feed subscribes with `since` and upserts what arrives into `transcript` by `segment_id`
(a segment is updated in place until it is completed). When the connection drops it reconnects
with growing pauses (0.5 s doubling to 10 s) and subscribes again with `since` = the newest
`updated_at` it holds, so the appliance replays everything it missed; the first subscription
asks from the beginning, so the whole transcript arrives the same way. Callbacks run on the
feed's thread (a window re-emits them as Qt signals):

- `on_segments(changed)`: the segments that changed, as the appliance sent them;
- `on_status(status, reason)`: a `meeting.status` frame (`notification_for` words it:
  `active` is "admitted", `completed`/`failed` is "ended");
- `on_connection(state, detail)`: `live`, `reconnecting` (with why), `error` (an error frame's
  detail), or `stopped` (with why,
  when the feed gives up: the device was revoked (4401) or the certificate changed). Status
  frames sent while disconnected are not replayed: on `live` after `reconnecting`, a window
  re-reads the meeting (`ApplianceClient.meeting`).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from client.trust import CHANGED_MESSAGE, is_verification_failure

Segment = dict[str, Any]
FROM_THE_START = "1970-01-01T00:00:00+00:00"
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
RECEIVE_TICK_S = 0.5  # how often the receiving thread looks at the stop flag
CLOSE_BAD_CREDENTIAL = 4401


class LiveTranscript:
    """The segments of one meeting by `segment_id`, in the order they were said."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Segment] = {}
        self._newest: datetime | None = None
        self._newest_text: str | None = None

    def upsert(self, segments: list[Segment]) -> list[Segment]:
        """Keep each segment unless an equal or newer version is already held; the changed ones."""
        changed = []
        with self._lock:
            for segment in segments:
                updated = _updated(segment)
                held = self._by_id.get(segment["segment_id"])
                if held is not None and (held == segment or _updated(held) > updated):
                    continue
                self._by_id[segment["segment_id"]] = segment
                changed.append(segment)
                if self._newest is None or updated > self._newest:
                    self._newest, self._newest_text = updated, str(segment["updated_at"])
        return changed

    def segments(self) -> list[Segment]:
        with self._lock:
            return sorted(self._by_id.values(), key=lambda s: (float(s["start"]), str(s["segment_id"])))

    @property
    def since(self) -> str:
        """What a (re)subscription asks for: from the newest update held."""
        with self._lock:
            return self._newest_text or FROM_THE_START


def notification_for(status: str, reason: str | None = None) -> str | None:
    """The sentence a desktop notification shows for a status change, or None for no notice."""
    if status == "active":
        return "The bot was admitted to the meeting and is transcribing."
    if status == "completed":
        return "The meeting ended" + (f" ({reason.replace('_', ' ')})." if reason else ".")
    if status == "failed":
        return "The bot failed" + (f" ({reason.replace('_', ' ')})." if reason else ".")
    return None


class LiveFeed:
    def __init__(
        self,
        ws_url: str | Callable[[], str],
        token: str,
        context: ssl.SSLContext | None,
        meeting_id: int,
        transcript: LiveTranscript,
        on_segments: Callable[[list[Segment]], None] | None = None,
        on_status: Callable[[str, str | None], None] | None = None,
        on_connection: Callable[[str, str], None] | None = None,
    ) -> None:
        self._ws_url = ws_url
        self.meeting_id = meeting_id
        self.transcript = transcript
        self._token = token
        self._context = context
        self._on_segments = on_segments
        self._on_status = on_status
        self._on_connection = on_connection
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"live-{meeting_id}", daemon=True)
        self.connections = 0  # how many times it connected (a reconnect makes it 2, ...)

    @property
    def ws_url(self) -> str:
        """Read again at every (re)connect: given `lambda: api.ws_url`, the feed goes where the
        REST client last found the appliance."""
        return self._ws_url() if callable(self._ws_url) else self._ws_url

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=BACKOFF_MAX_S)

    def _run(self) -> None:
        pause = BACKOFF_FIRST_S
        while not self._stop.is_set():
            try:
                with connect(self.ws_url, ssl=self._context, additional_headers={"X-API-Key": self._token},
                             proxy=None, open_timeout=10) as socket:
                    self.connections += 1
                    self._subscribe(socket)
                    self._tell("live", "")
                    pause = BACKOFF_FIRST_S
                    self._receive(socket)
                    return  # stopped
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == CLOSE_BAD_CREDENTIAL:
                    self._tell("stopped", f"{closed.rcvd.reason or 'the key was refused'}: pair this device again")
                    return
                why = f"the connection closed ({closed.rcvd.code if closed.rcvd else 'no close frame'})"
            except InvalidStatus as refused:
                if refused.response.status_code in (401, 403):
                    self._tell("stopped", "the appliance refused this device: pair it again")
                    return
                why = f"the appliance answered HTTP {refused.response.status_code}"
            except (OSError, InvalidHandshake, TimeoutError) as failure:
                if is_verification_failure(failure):
                    self._tell("stopped", CHANGED_MESSAGE)
                    return
                why = f"the appliance is unreachable ({failure.__class__.__name__})"
            self._tell("reconnecting", why)
            if self._stop.wait(pause):
                return
            pause = min(pause * 2, BACKOFF_MAX_S)

    def _subscribe(self, socket: ClientConnection) -> None:
        socket.send(json.dumps({"action": "subscribe", "meetings": [{"meeting_id": self.meeting_id}],
                                "since": self.transcript.since}))

    def _receive(self, socket: ClientConnection) -> None:
        while not self._stop.is_set():
            try:
                raw = socket.recv(timeout=RECEIVE_TICK_S)
            except TimeoutError:
                continue
            self._handle(json.loads(raw))

    def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "transcript.mutable":
            changed = self.transcript.upsert(list(frame["payload"]["segments"]))
            if changed and self._on_segments is not None:
                self._on_segments(changed)
        elif kind == "meeting.status" and self._on_status is not None:
            payload = frame.get("payload") or {}
            self._on_status(str(payload.get("status")), payload.get("reason"))
        elif kind == "error":
            self._tell("error", str(frame.get("detail")))

    def _tell(self, state: str, detail: str) -> None:
        if self._on_connection is not None:
            self._on_connection(state, detail)


def _updated(segment: Segment) -> datetime:
    return datetime.fromisoformat(str(segment["updated_at"]).replace("Z", "+00:00"))
