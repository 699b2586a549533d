"""The search index follows what the collector stores (its triggers, migration 0007): a partial
segment's words are found, and once the bot corrects the segment only the final words are."""

from __future__ import annotations

from typing import Any

import httpx

from tests.live.conftest import Bot


def found(client: httpx.Client, q: str) -> list[tuple[str, str]]:
    answer = client.get("/search", params={"q": q})
    assert answer.status_code == 200, answer.text
    return [(r["segment_id"], r["snippet"]) for r in answer.json()["results"]]


def test_search_follows_the_collectors_writes(live_meeting: tuple[httpx.Client, dict[str, Any], Bot, str]) -> None:
    client, meeting, bot, _ = live_meeting
    bot.segments("Ana", ("p1", 1.0, 2.0, "the quarterly bugdet", False))
    assert found(client, "bugdet") == [("p1", "the quarterly **bugdet**")]

    bot.segments("Ana", ("p1", 1.0, 2.5, "the quarterly budget is final", True))
    assert found(client, "bugdet") == []
    hits = client.get("/search", params={"q": "budget"}).json()["results"]
    assert [(h["meeting_id"], h["segment_id"], h["speaker"], h["snippet"]) for h in hits] == [
        (meeting["id"], "p1", "Ana", "the quarterly **budget** is final"),
    ]
