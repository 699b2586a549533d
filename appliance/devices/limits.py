"""Rate limits for the public pairing endpoints, kept in memory (one API process serves them)."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable

# Above this many keys, those whose window is empty are dropped, so a flood of addresses or
# made-up request ids cannot grow the table without bound.
PRUNE_ABOVE = 4096


def normalised_address(host: str) -> str:
    """The key a client's address is limited by: an IPv4-mapped IPv6 address is its IPv4, and an
    IPv6 address counts as its /64 (one host can take any address of its network's /64)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def take(self, key: str) -> int:
        """Count one event for `key`: 0 if allowed, else the whole seconds until one would be."""
        now = self._clock()
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window_s - now))
        events.append(now)
        if len(self._events) > PRUNE_ABOVE:
            self._prune(now)
        return 0

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._events.items() if not v or now - v[-1] >= self.window_s]
        for key in stale:
            del self._events[key]
