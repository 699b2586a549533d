"""Users, their API tokens and the admin key: shared by the admin API and the `vomeet admin` CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from appliance.db.models import AdminKey, ApiToken, User, utcnow
from appliance.security import ADMIN_KEY_PREFIX, USER_TOKEN_PREFIX, hash_secret, new_secret

# last_used_at is a hint for people, not an audit log: write it at most once a minute per token.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


async def find_or_create_user(
    session: AsyncSession, email: str, default_max_bots: int, **fields: Any
) -> tuple[User, bool]:
    user = await session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user, False
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("max_concurrent_bots", default_max_bots)
    user = User(email=email, **values)
    session.add(user)
    await session.commit()
    return user, True


async def user_with_tokens(session: AsyncSession, **where: Any) -> User | None:
    query = select(User).options(selectinload(User.tokens)).filter_by(**where)
    return await session.scalar(query)


async def issue_token(session: AsyncSession, user_id: int) -> IssuedToken:
    secret = new_secret(USER_TOKEN_PREFIX)
    token = ApiToken(user_id=user_id, prefix=secret.prefix, token_hash=secret.digest)
    session.add(token)
    await session.commit()
    return IssuedToken(token, secret.value)


async def revoke_token(session: AsyncSession, token_id: int) -> bool:
    token = await session.get(ApiToken, token_id)
    if token is None:
        return False
    await session.delete(token)
    await session.commit()
    return True


async def user_for_token(session: AsyncSession, secret: str) -> User | None:
    """The user a presented API token belongs to; refreshes the token's last use."""
    found = await token_and_user(session, secret)
    return None if found is None else found[1]


async def token_and_user(session: AsyncSession, secret: str) -> tuple[ApiToken, User] | None:
    """The presented API token and its user (a WebSocket keeps the token's id, so that revoking
    the token closes it); refreshes the token's last use."""
    # One query for both rows: this runs on every request, and each query is a round trip
    # to the database thread.
    found = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_secret(secret))
        )
    ).first()
    if found is None:
        return None
    token, user = found
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        await session.commit()
    return token, user


async def is_admin_key(session: AsyncSession, secret: str) -> bool:
    key = await session.scalar(select(AdminKey).where(AdminKey.key_hash == hash_secret(secret)))
    if key is None:
        return False
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
        await session.commit()
    return True


async def ensure_admin_key(session: AsyncSession, key_from_file: str | None) -> str | None:
    """Make sure an admin key exists. Returns a newly generated key (to print once), else None.

    A key given by file replaces any earlier file key, so rotating the file rotates the key.
    """
    if key_from_file is not None:
        digest = hash_secret(key_from_file)
        existing = (await session.scalars(select(AdminKey).where(AdminKey.source == "file"))).all()
        if any(k.key_hash == digest for k in existing):
            return None
        for old in existing:
            await session.delete(old)
        session.add(AdminKey(prefix=key_from_file[:8], key_hash=digest, source="file"))
        await session.commit()
        return None
    if await session.scalar(select(AdminKey.id).limit(1)) is not None:
        return None
    secret = new_secret(ADMIN_KEY_PREFIX)
    session.add(AdminKey(prefix=secret.prefix, key_hash=secret.digest, source="generated"))
    await session.commit()
    return secret.value


async def rotate_generated_admin_key(session: AsyncSession) -> str:
    """Replace every generated admin key by a new one (for `vomeet admin reset-admin-key`)."""
    for old in (await session.scalars(select(AdminKey).where(AdminKey.source == "generated"))).all():
        await session.delete(old)
    secret = new_secret(ADMIN_KEY_PREFIX)
    session.add(AdminKey(prefix=secret.prefix, key_hash=secret.digest, source="generated"))
    await session.commit()
    return secret.value
