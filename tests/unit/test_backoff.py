"""asr/backoff.py: the one retry-delay rule of the bot's streams and link, the ASR sink, the
supervisor's restarts and webhook deliveries."""

from __future__ import annotations

import asyncio
import time

import pytest

from appliance.config import Settings
from appliance.webhooks.delivery import retry_delay_s
from asr.backoff import Backoff, growing_delay_s


def test_a_table_is_walked_once_then_its_last_delay_repeats() -> None:
    backoff = Backoff((0.5, 1, 2))
    assert [backoff.next_delay_s() for _ in range(5)] == [0.5, 1, 2, 2, 2]


def test_a_reset_starts_the_table_over() -> None:
    backoff = Backoff((0.5, 1, 2))
    backoff.next_delay_s()
    backoff.next_delay_s()
    backoff.reset()
    assert (backoff.failures, backoff.next_delay_s()) == (0, 0.5)


def test_exhausted_once_every_delay_was_waited() -> None:
    backoff = Backoff((0.5, 1))
    seen = []
    while not backoff.exhausted:
        seen.append(backoff.next_delay_s())
    assert seen == [0.5, 1]


def test_an_empty_table_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one delay"):
        Backoff(())


def test_wait_sleeps_the_next_delay_and_counts_the_failure() -> None:
    backoff = Backoff((0.05, 5))
    started = time.monotonic()
    asyncio.run(backoff.wait())
    assert (time.monotonic() - started >= 0.05, backoff.failures) == (True, 1)


def test_a_growing_delay_multiplies_then_stops_at_its_cap() -> None:
    assert [growing_delay_s(0.5, 2, retry, cap_s=3) for retry in range(5)] == [0.5, 1, 2, 3, 3]


def test_webhook_retries_keep_their_documented_schedule() -> None:
    """docs/webhooks.md: 10 s, then 3x longer each time, at most an hour."""
    settings = Settings(webhook_retry_base_s=10)
    assert [retry_delay_s(settings, attempt) for attempt in (1, 2, 3, 4, 7, 8)] == [10, 30, 90, 270, 3600, 3600]
