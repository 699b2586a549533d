"""Console administrator accounts: the first one is created at first start."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin_ui import passwords
from appliance.db.models import ConsoleAdmin, utcnow

FIRST_ADMIN = "admin"


async def ensure_first_admin(session: AsyncSession) -> str | None:
    """Create the `admin` account when there is none; returns its new password (print it once)."""
    if await session.scalar(select(ConsoleAdmin.id).limit(1)) is not None:
        return None
    password = passwords.generate()
    session.add(ConsoleAdmin(username=FIRST_ADMIN, password_hash=passwords.hash_password(password)))
    await session.commit()
    return password


async def set_password(session: AsyncSession, username: str, password: str) -> bool:
    """Set an administrator's password, creating the account if needed; True when created."""
    digest = passwords.hash_password(password)
    admin = await session.scalar(select(ConsoleAdmin).where(ConsoleAdmin.username == username))
    created = admin is None
    if admin is None:
        admin = ConsoleAdmin(username=username, password_hash=digest)
        session.add(admin)
    else:
        admin.password_hash = digest
        admin.password_changed_at = utcnow()
    await session.commit()
    return created


async def authenticate(session: AsyncSession, username: str, password: str) -> ConsoleAdmin | None:
    admin = await session.scalar(select(ConsoleAdmin).where(ConsoleAdmin.username == username))
    if not await passwords.verify(admin.password_hash if admin else None, password):
        return None
    assert admin is not None
    admin.last_login_at = utcnow()
    await session.commit()
    return admin
