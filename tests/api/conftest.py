"""Fixtures of the API tests: users of their own, bots that are always stopped, and direct
access to the appliance's SQLite file (to seed rows the API has no way to create, such as
transcript segments and recordings, and to check what is really stored).

Everything runs against the session's real `vomeet serve` process (`appliance` fixture).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import sqlite3
import string
import uuid
import wave
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Appliance, wait_until

LIVE = {"requested", "joining", "awaiting_admission", "active", "stopping"}
TERMINAL = {"completed", "failed"}


def db_time(moment: datetime) -> str:
    """A UTC moment in the form SQLAlchemy stores DateTime columns in SQLite."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def meet_code() -> str:
    """A random Google Meet code (abc-defg-hij)."""
    letters = string.ascii_lowercase
    return "-".join("".join(random.choices(letters, k=n)) for n in (3, 4, 3))


def teams_id() -> str:
    return "".join(random.choices(string.digits, k=13))


def zoom_id() -> str:
    return "8" + "".join(random.choices(string.digits, k=9))


class ApplianceDb:
    """The appliance's own SQLite file (<data_dir>/vomeet.db), opened with the stdlib driver."""

    def __init__(self, path: Path, recordings_dir: Path) -> None:
        self.path = path
        self.recordings_dir = recordings_dir

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        with closing(self._connect()) as conn:
            return list(conn.execute(sql, params).fetchall())

    def row(self, sql: str, *params: Any) -> sqlite3.Row | None:
        found = self.rows(sql, *params)
        return found[0] if found else None

    def execute(self, sql: str, *params: Any) -> int:
        with closing(self._connect()) as conn, conn:
            return int(conn.execute(sql, params).lastrowid or 0)

    def stored_bytes(self) -> bytes:
        """Every byte of the database as it is on disk, the write-ahead log included."""
        data = b""
        for suffix in ("", "-wal", "-journal"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                data += part.read_bytes()
        return data

    # ---- seeding rows the API cannot create -----------------------------------------------

    def insert_meeting(
        self,
        user_id: int,
        *,
        platform: str = "google_meet",
        native_meeting_id: str | None = None,
        status: str = "completed",
        data: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> int:
        native = native_meeting_id or {"google_meet": meet_code, "teams": teams_id, "zoom": zoom_id}[platform]()
        now = created_at or utcnow()
        ended = status in TERMINAL
        return self.execute(
            "INSERT INTO meetings (user_id, platform, native_meeting_id, constructed_meeting_url, status, "
            "completion_reason, data, transitions, runtime_kind, start_time, end_time, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            user_id, platform, native, f"https://example.invalid/{native}", status,
            "stopped" if status == "completed" else None,
            json.dumps(data or {"bot_name": "Seeded", "task": "transcribe"}),
            json.dumps([{"from": None, "to": status, "at": now.isoformat(), "source": "system", "reason": "seeded"}]),
            "process", db_time(now), db_time(now) if ended else None, db_time(now), db_time(now),
        )

    def insert_segment(
        self, meeting_id: int, segment_id: str, start: float, end: float, text: str,
        speaker: str | None = None, language: str | None = "en", completed: bool = True,
    ) -> int:
        now = db_time(utcnow())
        return self.execute(
            "INSERT INTO transcript_segments (meeting_id, segment_id, start, \"end\", text, language, "
            "speaker, completed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            meeting_id, segment_id, start, end, text, language, speaker, completed, now, now,
        )

    def insert_recording(self, meeting_id: int, user_id: int, seconds: float = 0.5) -> tuple[int, int, bytes]:
        """A finished recording with one real WAV file in <data_dir>/recordings/<recording id>/."""
        now = db_time(utcnow())
        recording_id = self.execute(
            "INSERT INTO recordings (meeting_id, user_id, status, source, created_at, completed_at) "
            "VALUES (?, ?, 'completed', 'bot', ?, ?)",
            meeting_id, user_id, now, now,
        )
        folder = self.recordings_dir / str(recording_id)
        folder.mkdir(parents=True, exist_ok=True)
        audio = folder / "audio.wav"
        write_tone(audio, seconds)
        content = audio.read_bytes()
        media_id = self.execute(
            "INSERT INTO media_files (recording_id, type, format, storage_path, file_size_bytes, "
            "duration_seconds, created_at) VALUES (?, 'audio', 'wav', ?, ?, ?, ?)",
            recording_id, f"{recording_id}/audio.wav", len(content), seconds, now,
        )
        return recording_id, media_id, content


def write_tone(path: Path, seconds: float, rate: int = 16000) -> None:
    """A real 16 kHz mono PCM WAV file: a 440 Hz square-ish tone."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        value = 8000 if (n * 440 * 2 // rate) % 2 else -8000
        frames += value.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


@pytest.fixture(scope="session")
def db(appliance: Appliance) -> ApplianceDb:
    return ApplianceDb(appliance.data_dir / "vomeet.db", appliance.data_dir / "recordings")


@dataclass
class ApiUser:
    id: int
    email: str
    token: str
    client: httpx.Client


@pytest.fixture
def make_user(appliance: Appliance, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Creates users of this test only (distinct e-mails), each with a token and a client."""
    clients: list[httpx.Client] = []
    numbers = itertools.count(1)
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def make(max_concurrent_bots: int = 0) -> ApiUser:
        email = f"{base}-{next(numbers)}-{uuid.uuid4().hex[:6]}@example.com"
        user_id, token = appliance.new_user(email, max_concurrent_bots)
        client = appliance.client(token)
        clients.append(client)
        return ApiUser(user_id, email, token, client)

    yield make
    for client in clients:
        client.close()


@dataclass
class Bots:
    """Launches real bots and makes sure every one of them is stopped and has ended."""

    launched: list[tuple[httpx.Client, dict[str, Any]]] = field(default_factory=list)

    def launch(self, user: ApiUser, **body: Any) -> httpx.Response:
        answer = user.client.post("/bots", json=body)
        if answer.status_code == 201:
            self.launched.append((user.client, answer.json()))
        return answer

    @staticmethod
    def status(client: httpx.Client, meeting_id: int) -> str:
        answer = client.get(f"/meetings/{meeting_id}")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    def wait_for(self, client: httpx.Client, meeting_id: int, states: set[str], timeout_s: float = 60) -> str:
        return str(wait_until(
            lambda: (s := self.status(client, meeting_id)) in states and s,
            timeout_s, 0.2, what=f"meeting {meeting_id} to reach {sorted(states)}",
        ))

    def stop(self, client: httpx.Client, meeting: dict[str, Any]) -> dict[str, Any]:
        """DELETE /bots/... and wait for the meeting to end; returns the ended meeting."""
        answer = client.delete(f"/bots/{meeting['platform']}/{meeting['native_meeting_id']}")
        assert answer.status_code in (202, 409), answer.text
        self.wait_for(client, meeting["id"], TERMINAL)
        return dict(client.get(f"/meetings/{meeting['id']}").json())

    def cleanup(self) -> None:
        for client, meeting in self.launched:
            if self.status(client, meeting["id"]) in LIVE:
                client.delete(f"/bots/{meeting['platform']}/{meeting['native_meeting_id']}")
        for client, meeting in self.launched:
            self.wait_for(client, meeting["id"], TERMINAL)


@pytest.fixture
def bots(make_user: Any) -> Iterator[Bots]:
    # Depends on make_user so that the users' clients are still open when the bots are stopped.
    fleet = Bots()
    yield fleet
    fleet.cleanup()
