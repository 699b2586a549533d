"""Open /ws connections by the credential that opened them, so that withdrawing a credential
closes them: revoking an API token, deleting a user, ending a console session.

The API process calls `withdraw` where it withdraws a credential itself (immediate). A sweep,
running only while sockets are open, re-reads the credentials of the open sockets every
`SWEEP_INTERVAL_S` and ends those that are gone: that covers what other processes do to the
database (`vomeet admin revoke-token`, a user deleted by an operator, a console session ended by
a password change, or one that expired).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from appliance.close_codes import CloseCode
from appliance.db.engine import Database
from appliance.db.models import ApiToken, ConsoleSession, User, utcnow

if TYPE_CHECKING:
    from appliance.live.hub import Subscriber

log = logging.getLogger(__name__)
# As for a bad key at connect: this credential is not (or no longer) valid; do not retry with it.
CLOSE_REVOKED = CloseCode.BAD_CREDENTIAL
SWEEP_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Opener:
    """Who opened a socket and with what: withdrawing any of these closes it."""

    user_id: int
    token_id: int | None = None
    console_session_id: int | None = None


class OpenSockets:
    def __init__(self) -> None:
        self._open: set[Subscriber] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    def add(self, subscriber: Subscriber, db: Database) -> None:
        self._open.add(subscriber)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(db), name="ws-credential-sweep")

    def discard(self, subscriber: Subscriber) -> None:
        self._open.discard(subscriber)

    def withdraw(
        self, reason: str, *, user_id: int | None = None, token_id: int | None = None,
        console_session_id: int | None = None,
    ) -> int:
        """End every socket opened by that user, with that token or in that console session."""
        doomed = [
            s for s in self._open
            if (user_id is not None and s.user_id == user_id)
            or (token_id is not None and s.token_id == token_id)
            or (console_session_id is not None and s.console_session_id == console_session_id)
        ]
        _end(doomed, reason)
        return len(doomed)

    async def check(self, db: Database) -> None:
        """End the sockets whose user, token or console session no longer exists."""
        opened = list(self._open)
        users = {s.user_id for s in opened}
        tokens = {s.token_id for s in opened if s.token_id is not None}
        consoles = {s.console_session_id for s in opened if s.console_session_id is not None}
        async with db.session() as session:
            live_users = set(await session.scalars(select(User.id).where(User.id.in_(users))))
            live_tokens = set(await session.scalars(select(ApiToken.id).where(ApiToken.id.in_(tokens))))
            live_consoles = set(
                await session.scalars(
                    select(ConsoleSession.id).where(
                        ConsoleSession.id.in_(consoles), ConsoleSession.expires_at > utcnow()
                    )
                )
            )
        _end([s for s in opened if s.user_id not in live_users], "user deleted")
        _end([s for s in opened if s.token_id is not None and s.token_id not in live_tokens], "API key revoked")
        _end(
            [s for s in opened if s.console_session_id is not None and s.console_session_id not in live_consoles],
            "console session ended",
        )

    async def _sweep(self, db: Database) -> None:
        while self._open:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.check(db)
            except SQLAlchemyError:
                # A busy or locked database delays the check; it must not end the sweep.
                log.warning("could not check the credentials of open WebSockets", exc_info=True)


def _end(subscribers: Iterable[Subscriber], reason: str) -> None:
    for subscriber in subscribers:
        subscriber.end(CLOSE_REVOKED, reason)
