"""Sign-in lockout: too many failures for one account, or from one address, lock it a while.

Failures of an account count from its last success within the window, so a correct sign-in
starts its count afresh; failures from an address always count (someone's own valid sign-in
must not reset the guessing of others' passwords).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from appliance.db.models import LoginAttempt, utcnow

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


class LockedOut(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        minutes = max(1, round(retry_after.total_seconds() / 60))
        super().__init__(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        self.retry_after = retry_after


async def _retry_after(
    session: AsyncSession, column: InstrumentedAttribute[str], value: str, success_resets: bool
) -> timedelta | None:
    since = utcnow() - LOCKOUT
    if success_resets:
        last_success = await session.scalar(
            select(func.max(LoginAttempt.at)).where(column == value, LoginAttempt.succeeded.is_(True))
        )
        if last_success is not None:
            since = max(since, last_success)
    failures = (
        await session.scalars(
            select(LoginAttempt.at)
            .where(column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc())
            .limit(MAX_FAILURES)
        )
    ).all()
    if len(failures) < MAX_FAILURES:
        return None
    return failures[0] + LOCKOUT - utcnow()


async def check(session: AsyncSession, account: str, client: str) -> None:
    """Raise LockedOut when the account or the client address is locked."""
    checks = ((LoginAttempt.account, account, True), (LoginAttempt.client, client, False))
    for column, value, success_resets in checks:
        wait = await _retry_after(session, column, value, success_resets)
        if wait is not None and wait > timedelta(0):
            raise LockedOut(wait)


async def record(session: AsyncSession, account: str, client: str, succeeded: bool) -> None:
    session.add(LoginAttempt(account=account, client=client, succeeded=succeeded))
    await session.commit()
