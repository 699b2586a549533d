"""Console sessions: a random id in an HttpOnly, SameSite=Strict cookie; the database keeps its
hash, the CSRF token of the session and at most one flash message for the next page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from starlette.requests import HTTPConnection
from starlette.responses import Response

from appliance.db.engine import Database, rowcount
from appliance.db.models import ConsoleAdmin, ConsoleSession, User, utcnow
from appliance.security import hash_secret

COOKIE = "vomeet_console"
LIFETIME = timedelta(hours=12)
TOUCH_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Viewer:
    """Who is signed in to the console: an administrator, or a user (by API key)."""

    session_id: int
    csrf_token: str
    admin_id: int | None
    user_id: int | None
    name: str
    token_id: int | None = None  # the API key a user signed in with; revoking it ends the session

    @property
    def is_admin(self) -> bool:
        return self.admin_id is not None


def is_https(connection: HTTPConnection) -> bool:
    return connection.url.scheme in ("https", "wss") or connection.headers.get("x-forwarded-proto") == "https"


def set_cookie(response: Response, connection: HTTPConnection, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
        secure=is_https(connection),
    )


def clear_cookie(response: Response, connection: HTTPConnection, name: str) -> None:
    """Delete a cookie with the attributes it was set with (Secure over HTTPS, as set_cookie)."""
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=is_https(connection))


async def create(
    db: Database, client: str, *, admin_id: int | None = None, user_id: int | None = None,
    token_id: int | None = None,
) -> str:
    """Start a session; returns the cookie value (the only copy of the session id)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    async with db.session() as session:
        # Sessions past their end are of no use to anyone: drop them on the way.
        await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        session.add(
            ConsoleSession(
                session_hash=hash_secret(session_id), admin_id=admin_id, user_id=user_id, token_id=token_id,
                csrf_token=secrets.token_urlsafe(32), client=client[:100], expires_at=now + LIFETIME,
            )
        )
        await session.commit()
    return session_id


async def load(db: Database, cookie: str | None) -> Viewer | None:
    if not cookie:
        return None
    now = utcnow()
    async with db.session() as session:
        row = await session.scalar(
            select(ConsoleSession).where(ConsoleSession.session_hash == hash_secret(cookie))
        )
        if row is None or row.expires_at <= now:
            return None
        account = (
            await session.get(ConsoleAdmin, row.admin_id) if row.admin_id is not None
            else await session.get(User, row.user_id)
        )
        if account is None:
            return None
        name = account.username if isinstance(account, ConsoleAdmin) else account.name or account.email
        if now - row.last_seen_at > TOUCH_RESOLUTION:
            row.last_seen_at = now
            await session.commit()
        return Viewer(row.id, row.csrf_token, row.admin_id, row.user_id, name, row.token_id)


async def end(db: Database, session_id: int) -> None:
    async with db.session() as session:
        await session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))
        await session.commit()


async def push_flash(db: Database, session_id: int, message: str) -> None:
    async with db.session() as session:
        row = await session.get(ConsoleSession, session_id)
        if row is not None:
            row.flash = message
            await session.commit()


async def pop_flash(db: Database, session_id: int) -> str | None:
    async with db.session() as session:
        row = await session.get(ConsoleSession, session_id)
        if row is None or row.flash is None:
            return None
        message, row.flash = row.flash, None
        await session.commit()
        return message


async def end_others(db: Database, admin_id: int, keep_session_id: int) -> int:
    """End an administrator's other sessions (after a password change); returns how many."""
    async with db.session() as session:
        ended = await session.execute(
            delete(ConsoleSession).where(
                ConsoleSession.admin_id == admin_id, ConsoleSession.id != keep_session_id
            )
        )
        await session.commit()
    return rowcount(ended)
