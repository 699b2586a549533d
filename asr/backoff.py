"""How long a retry loop waits: one rule for every retry loop of the box.

A loop that fails waits longer after each failure in a row, up to a ceiling, and starts over
after a success. Two ways to say how much longer:

- a table (`Backoff`): the n-th retry in a row waits the table's n-th delay, then its last one;
  for loops that reconnect in-process (the bot's streams and its appliance link, the ASR sink);
- a growing delay (`growing_delay_s`): the first delay times a factor per retry, capped; for
  retries counted elsewhere (a child's recent exits, a webhook delivery's stored attempts).

It lives in asr/ because asr is the floor of the import graph: the appliance and the bot both
import it, it imports neither (tests/unit/test_layers.py), and every role of the one binary
ships it. It imports nothing but asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence


class Backoff:
    """The delays of one retry loop, advanced by each failure, started over by `reset`."""

    def __init__(self, delays_s: Sequence[float]) -> None:
        if not delays_s:
            raise ValueError("a backoff needs at least one delay")
        self.delays_s = tuple(delays_s)
        self.failures = 0  # in a row, since the last reset

    @property
    def exhausted(self) -> bool:
        """Every delay of the table has been waited once (for loops that give up)."""
        return self.failures >= len(self.delays_s)

    def next_delay_s(self) -> float:
        """The delay after one more failure (the last one repeats), counting that failure."""
        delay = self.delays_s[min(self.failures, len(self.delays_s) - 1)]
        self.failures += 1
        return delay

    async def wait(self) -> None:
        await asyncio.sleep(self.next_delay_s())

    def reset(self) -> None:
        self.failures = 0


def growing_delay_s(first_s: float, factor: float, retry: int, cap_s: float) -> float:
    """`first_s` for retry 0, `factor` times longer for each next retry, at most `cap_s`."""
    return min(cap_s, first_s * factor**retry)
