"""Database models. All times are stored as UTC and returned as timezone-aware UTC datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.mutable import MutableDict, MutableList
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """SQLite keeps no zone; store naive UTC, hand back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[str | None], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            # SQLite hands back "YYYY-MM-DD HH:MM:SS[.ffffff]": parsing it as UTC in one C call
            # is ~10x faster than parsing then datetime.replace(tzinfo=...), which dominated
            # reading long transcripts (four timestamps per segment).
            return None if value is None else parse(f"{value}+00:00")

        return process


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: MutableDict.as_mutable(JSON)}


class AdminKey(Base):
    __tablename__ = "admin_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "generated" or "file"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class User(Base):
    __tablename__ = "users"
    # AUTOINCREMENT: a deleted user's id never comes back as somebody else's.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    max_concurrent_bots: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Needed in clear to sign deliveries; the database file itself is mode 600.
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    webhook_events: Mapped[list[str] | None] = mapped_column(MutableList.as_mutable(JSON))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id"
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"
    # AUTOINCREMENT: a revoked token's id never names another key (a late DELETE /admin/tokens/N
    # must not revoke the wrong one).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")


class ScheduledMeeting(Base):
    """The source of truth for every meeting request; an ad-hoc POST /bots starts now."""

    __tablename__ = "scheduled_meetings"
    # The scheduling loop asks for `scheduled` rows every 15 s; every ad-hoc bot leaves a row too.
    __table_args__ = (Index("ix_scheduled_meetings_state_start", "state", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    native_meeting_id: Mapped[str] = mapped_column(String(200))
    passcode: Mapped[str | None] = mapped_column(String(100))
    meeting_url: Mapped[str] = mapped_column(String(2000))
    calendar_provider: Mapped[str] = mapped_column(String(20), default="api")
    start_at: Mapped[datetime] = mapped_column(default=utcnow)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="launched")
    # Scheduling (issue 16, appliance/scheduling/): `state` is scheduled, launched, skipped,
    # cancelled or failed. `join_at` is when the bot starts (POST /bots' join_at, or a user's
    # move); NULL for a calendar meeting, which starts at `start_at` minus the lead time.
    join_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    title: Mapped[str | None] = mapped_column(String(1000))
    auto_join: Mapped[bool] = mapped_column(Boolean, default=True)
    decision_reason: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    # (platform, native meeting id, instance start) of a calendar meeting: one per meeting.
    dedupe_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    launched_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarConnection(Base):
    """A calendar the box reads (issue 16): a user's, or organisation-wide (`user_id` None,
    made by an administrator). The secret (feed URL, password, token, key) is only ever stored
    sealed by appliance/calendars/secrets.py; `secret_hint` is what may be shown (a host)."""

    __tablename__ = "calendar_connections"
    __table_args__ = (Index("ix_calendar_connections_due", "next_sync_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # ics, caldav, google, microsoft
    name: Mapped[str] = mapped_column(String(200))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    secret_hint: Mapped[str] = mapped_column(String(300), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # non-secret, per kind
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)  # auto-join rules (H6 evaluates)
    cursor: Mapped[str | None] = mapped_column(Text)
    last_sync_at: Mapped[datetime | None]
    next_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_after_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarEventRecord(Base):
    """One synced instance of a calendar event, as its owner's calendar shows it. Rows are kept
    when the event goes (`cancelled`), so the scheduler sees the cancellation."""

    __tablename__ = "calendar_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "owner_email", "uid", "instance_key", name="uq_calendar_event_instance"),
        Index("ix_calendar_events_start", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    owner_email: Mapped[str] = mapped_column(String(320))
    uid: Mapped[str] = mapped_column(String(1000))
    instance_key: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(1000), default="")
    meeting_url: Mapped[str | None] = mapped_column(String(2000))
    organizer_email: Mapped[str | None] = mapped_column(String(320))
    attendee_status: Mapped[str | None] = mapped_column(String(20))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduledMeetingReader(Base):
    """A user who may read a scheduled meeting's bot runs and transcripts (issue 16): the owner,
    and everyone whose calendar holds the meeting, one row per calendar instance (`event_key`,
    appliance.scheduling.event_key; NULL for the owner of a POST /bots one). `auto_join` and
    `reason` are this user's own decision; `override` (join, skip) their per-event choice."""

    __tablename__ = "scheduled_meeting_readers"
    __table_args__ = (Index("ix_readers_user_scheduled", "user_id", "scheduled_meeting_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheduled_meeting_id: Mapped[int] = mapped_column(
        ForeignKey("scheduled_meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_key: Mapped[str | None] = mapped_column(String(1600), unique=True)
    auto_join: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    override: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Meeting(Base):
    """One bot execution for a meeting."""

    __tablename__ = "meetings"
    __table_args__ = (
        Index("ix_meetings_lookup", "user_id", "platform", "native_meeting_id", "id"),
        Index("ix_meetings_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scheduled_meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("scheduled_meetings.id", ondelete="SET NULL")
    )
    platform: Mapped[str] = mapped_column(String(20))
    native_meeting_id: Mapped[str] = mapped_column(String(200))
    constructed_meeting_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(32), default="requested")
    completion_reason: Mapped[str | None] = mapped_column(String(32))
    failure_stage: Mapped[str | None] = mapped_column(String(32))
    error_details: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    transitions: Mapped[list[dict[str, Any]]] = mapped_column(
        MutableList.as_mutable(JSON), default=list
    )
    bot_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    runtime_kind: Mapped[str | None] = mapped_column(String(20))
    bot_container_id: Mapped[str | None] = mapped_column(String(200))
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TranscriptSegment(Base):
    __tablename__ = "transcript_segments"
    __table_args__ = (
        UniqueConstraint("meeting_id", "segment_id", name="uq_segment_per_meeting"),
        Index("ix_segments_meeting_start", "meeting_id", "start"),
        Index("ix_segments_meeting_updated", "meeting_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    segment_id: Mapped[str] = mapped_column(String(64))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(16))
    speaker: Mapped[str | None] = mapped_column(String(200))
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    absolute_start_time: Mapped[datetime | None]
    absolute_end_time: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="recording")
    source: Mapped[str] = mapped_column(String(20), default="bot")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    media_files: Mapped[list[MediaFile]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", order_by="MediaFile.id"
    )


class MediaFile(Base):
    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20), default="audio")
    format: Mapped[str] = mapped_column(String(20))
    storage_path: Mapped[str] = mapped_column(String(1000))
    file_size_bytes: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recording: Mapped[Recording] = relationship(back_populates="media_files")


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_deliveries_user_created", "user_id", "created_at"),
        UniqueConstraint("user_id", "event_id", name="uq_delivery_per_user_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"))
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # One entry per attempt: {attempt, at, status_code, error, duration_ms}.
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(
        MutableList.as_mutable(JSON), default=list
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_retry_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEvent(Base):
    """An event, written in the transaction that made the change it reports (the outbox).

    The relay (`appliance.relay`) turns each row into webhook deliveries and tells the
    in-process subscribers, then sets `relayed_at`; rows still unrelayed after a crash are
    relayed at the next start. AUTOINCREMENT: ids order events for good and are never reused.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_unrelayed", "relayed_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    relayed_at: Mapped[datetime | None]


class ShareLink(Base):
    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    share_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class SpeakerActivity(Base):
    """When a participant spoke, as the bot saw it (for channels that mix several people)."""

    __tablename__ = "speaker_activity"
    __table_args__ = (Index("ix_activity_meeting_start", "meeting_id", "start_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    speaker: Mapped[str] = mapped_column(String(200))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]


class ConsoleAdmin(Base):
    """An administrator of the web console: signs in with a name and a password (argon2 hash)."""

    __tablename__ = "console_admins"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random id, the database only its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int | None] = mapped_column(
        ForeignKey("console_admins.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The API key a user signed in with: revoking it ends the session (the row goes with it).
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    flash: Mapped[str | None] = mapped_column(Text)  # one message for the next page shown
    client: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    """Every console sign-in attempt, for lockout after repeated failures."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_account_at", "account", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    client: Mapped[str] = mapped_column(String(100))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceSighting(Base):
    """A desktop client seen announcing itself by mDNS (issue 15). Nothing in it is trusted:
    it only says that something with this id and name is on the LAN."""

    __tablename__ = "device_sightings"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[list[str]] = mapped_column(MutableList.as_mutable(JSON), default=list)
    port: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime]
    gone_at: Mapped[datetime | None]  # set when its announcement went away


class Device(Base):
    """A paired desktop client: bound to a user, holding one user API token (the device token).
    Revoking keeps the row (and the token's hash, so its next use is told why it is refused)."""

    __tablename__ = "devices"
    # One row per (user, device id): the id comes from an announcement anyone can make, so a
    # request naming someone else's device pairs a device of the approver's, never takes theirs.
    # AUTOINCREMENT: a late DELETE /devices/N must never revoke another device.
    __table_args__ = (
        UniqueConstraint("user_id", "device_id", name="uq_devices_user_device"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw Ed25519 key
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )
    revoked_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    paired_at: Mapped[datetime] = mapped_column(default=utcnow)
    paired_by: Mapped[str] = mapped_column(String(320))  # who approved it on the console
    last_seen_at: Mapped[datetime | None]
    last_address: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None]


class PairingRequest(Base):
    """A client asking to pair: what the code is derived from, and what became of it."""

    __tablename__ = "pairing_requests"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    public_key: Mapped[str] = mapped_column(String(64))
    client_nonce: Mapped[str] = mapped_column(String(32))
    server_nonce: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))  # the certificate served when asked
    address: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, rejected
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    collected_at: Mapped[datetime | None]  # when the client took its token (once)
