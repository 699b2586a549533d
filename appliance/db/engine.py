"""Async engine and sessions on the appliance's SQLite file (WAL mode, foreign keys on)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import sqlalchemy
from sqlalchemy import CursorResult, Engine, Result, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from appliance.config import Settings

T = TypeVar("T")


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while a writer commits; NORMAL sync is durable at WAL checkpoints.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted content is overwritten with zeros, not left readable in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched. Session.execute is typed to return a plain Result for
    every statement; for these it is a CursorResult, the kind that counts rows."""
    return cast(CursorResult[Any], result).rowcount


def create_sync_engine(settings: Settings) -> Engine:
    """For synchronous processes (the Huey worker): same file, same pragmas."""
    engine = sqlalchemy.create_engine(f"sqlite:///{settings.database_path}")
    event.listen(engine, "connect", _on_connect)
    return engine


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(settings.database_url, pool_size=8, max_overflow=8)
    event.listen(engine.sync_engine, "connect", _on_connect)
    return engine


class Database:
    """Owns the engine and hands out sessions."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def truncate_wal(self) -> bool:
        """Checkpoint the write-ahead log into the database and empty it, so that older copies
        of pages (such as the text of a deleted transcript) leave the disk. False when a reader
        kept part of the log alive; the next checkpoint finishes the job."""
        async with self.engine.connect() as connection:
            busy = (await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()[0]
        return not busy

    async def dispose(self) -> None:
        await self.engine.dispose()


async def run_in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work(session)` on a database opened for this call alone (CLI commands, tests)."""
    db = Database(settings)
    try:
        async with db.session() as session:
            return await work(session)
    finally:
        await db.dispose()
