"""Fixtures of the live pipeline tests: a real bot in a meeting, and its token to post as it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Appliance, bot_token_of, wait_until


class Bot:
    """Talks to the appliance with a real bot's token, as the ASR stream sink does."""

    def __init__(self, appliance: Appliance, meeting: dict[str, Any]) -> None:
        self.client = httpx.Client(
            base_url=appliance.base_url, headers={"Authorization": f"Bearer {bot_token_of(meeting)}"}, timeout=30
        )
        self.started_at = time.time()

    def segments(self, speaker: str, *segments: tuple[str, float, float, str, bool]) -> httpx.Response:
        body = {
            "stream": {"uid": f"chan-{speaker}", "speaker": speaker, "started_at": self.started_at},
            "segments": [
                {"segment_id": sid, "start": start, "end": end, "text": text, "completed": done, "language": "en"}
                for sid, start, end, text, done in segments
            ],
        }
        answer = self.client.post("/internal/bot/segments", json=body)
        assert answer.status_code == 200, answer.text
        return answer


@pytest.fixture
def live_meeting(appliance: Appliance) -> Iterator[tuple[httpx.Client, dict[str, Any], Bot, str]]:
    _, token = appliance.new_user(f"live-{time.monotonic_ns()}@example.com")
    client = appliance.client(token)
    code = "liv-ewss-" + "abcdefghij"[time.monotonic_ns() % 7 :][:3]
    meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": code}).json()
    bot = Bot(appliance, meeting)
    yield client, meeting, bot, token
    client.delete(f"/bots/google_meet/{code}")
    wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] in ("completed", "failed"), 60,
               what="the bot to end")
    client.close()
    bot.client.close()


