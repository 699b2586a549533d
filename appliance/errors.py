"""What the domain refuses, said in the domain's words. `appliance/api/errors.py` alone turns
these into HTTP status codes; the meeting, live and recording code never names a status."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; `detail` is the sentence the caller reads."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The thing named does not exist (or is not the caller's to see)."""


class Conflict(DomainError):
    """The thing exists but is in a state that forbids the request (a live bot, a stopped one)."""


class OverLimit(DomainError):
    """The caller's own quota is used up (its concurrent bots)."""


class Invalid(DomainError):
    """The request names something the domain cannot act on (a bad link, an unknown platform)."""


class Unavailable(DomainError):
    """The box cannot take the request now; the caller may retry after `retry_after_s`."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
