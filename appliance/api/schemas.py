"""Wire models of the public API (contract sections 3-5). Field names follow Vexa's API."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from appliance.api.endpoint import MAX_ID
from appliance.lifecycle import CompletionReason, MeetingStatus
from appliance.meeting_urls import Platform
from appliance.meetings.orders import BotOrder
from appliance.outbox import EventType

LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")  # RFC 5321: a local part of at most 64
EMAIL_MAX = 254  # RFC 5321's longest forward path, less its angle brackets
FREE_DATA_MAX_BYTES = 16_384  # `data` objects stored as given (users): echoed in every listing
WEBHOOK_EVENTS = tuple(event.value for event in EventType)


class Lenient(BaseModel):
    """Request models ignore unknown keys, as Vexa's API did, so existing clients keep working."""

    model_config = ConfigDict(extra="ignore")


# ---- requests -------------------------------------------------------------------------------


class AutomaticLeave(Lenient):
    waiting_room_timeout_s: int | None = Field(None, gt=0, le=86400)
    nobody_joined_timeout_s: int | None = Field(None, gt=0, le=86400)
    left_alone_timeout_s: int | None = Field(None, gt=0, le=86400)
    max_duration_s: int | None = Field(None, gt=0, le=7 * 86400)


def _check_language(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not LANGUAGE_CODE.match(value):
        raise ValueError("use a two- or three-letter language code such as 'en' or 'de', or null to detect")
    return value


LanguageCode = Annotated[str | None, AfterValidator(_check_language)]


class BotRequest(Lenient):
    platform: Platform | None = None
    native_meeting_id: str | None = Field(None, max_length=200)
    meeting_url: str | None = Field(None, max_length=2000)
    bot_name: str | None = Field(None, min_length=1, max_length=100)
    language: LanguageCode = None
    task: Literal["transcribe", "translate"] | None = None
    passcode: str | None = Field(None, max_length=100)
    recording_enabled: bool | None = None
    transcribe_enabled: bool | None = None
    automatic_leave: AutomaticLeave | None = None
    # Issue 16: a bot for later. The answer is then the scheduled meeting (appliance/scheduling/).
    join_at: AwareDatetime | None = Field(
        None, description="When the bot joins (ISO 8601 with offset); left out, it joins now"
    )

    @model_validator(mode="after")
    def _needs_a_meeting(self) -> BotRequest:
        if not self.meeting_url and (self.platform is None or not self.native_meeting_id):  # "" is no URL
            raise ValueError(
                "give either `meeting_url`, or `platform` and `native_meeting_id`"
            )
        return self

    def order(self) -> BotOrder:
        """The request in the meeting domain's terms (only the leave timeouts given)."""
        leave = self.automatic_leave.model_dump(exclude_none=True) if self.automatic_leave else {}
        return BotOrder(
            platform=self.platform, native_meeting_id=self.native_meeting_id,
            meeting_url=self.meeting_url, passcode=self.passcode, bot_name=self.bot_name,
            language=self.language, task=self.task, recording_enabled=self.recording_enabled,
            transcribe_enabled=self.transcribe_enabled, automatic_leave=leave,
        )


class BotConfigUpdate(Lenient):
    language: LanguageCode = None  # an explicit null switches the bot to language detection
    task: Literal["transcribe", "translate"] | None = None

    @model_validator(mode="after")
    def _something(self) -> BotConfigUpdate:
        if "language" not in self.model_fields_set and self.task is None:
            raise ValueError("give `language` (a code, or null to detect) and/or `task`")
        return self

    def changes(self) -> dict[str, str | None]:
        """What to change: `language` whenever given (null included), `task` unless null."""
        changed: dict[str, str | None] = {"language": self.language} if "language" in self.model_fields_set else {}
        if self.task is not None:
            changed["task"] = self.task
        return changed


Participant = Annotated[str, Field(min_length=1, max_length=200)]


class MeetingDataPatch(Lenient):
    name: str | None = Field(None, max_length=500)
    participants: list[Participant] | None = Field(None, max_length=500)
    languages: list[Annotated[str, Field(max_length=16)]] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=100_000)


class MeetingPatch(Lenient):
    data: MeetingDataPatch


class MeetingListQuery(Lenient):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_ID)
    status: MeetingStatus | None = None
    platform: Platform | None = None


class MeetingSelector(Lenient):
    meeting_id: int | None = Field(None, ge=1, le=MAX_ID)


class SearchQuery(Lenient):
    q: str = Field(description='FTS5 query: words (all must match), "a phrase", word*, a OR b')
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=MAX_ID)


class TranscriptQuery(MeetingSelector):
    format: Literal["json", "txt", "srt", "vtt"] = "json"


TTL_SECONDS = Field(None, ge=60, le=90 * 86400, description="How long the link works (default 7 days)")
DEFAULT_SHARE_TTL_S = 7 * 86400


class ShareRequest(Lenient):
    ttl_seconds: int | None = TTL_SECONDS
    meeting_id: int | None = Field(None, ge=1, le=MAX_ID)


class ShareQuery(Lenient):
    """Vexa's clients send these in the query string; the body's form is also accepted."""

    ttl_seconds: int | None = TTL_SECONDS
    meeting_id: int | None = Field(None, ge=1, le=MAX_ID)


class WebhookSettings(Lenient):
    webhook_url: str = Field(
        max_length=2000, description="Where events are POSTed; to remove the webhook, DELETE /user/webhook."
    )
    webhook_secret: str | None = Field(None, min_length=8, max_length=200)
    webhook_events: list[str] | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; to remove the webhook, send DELETE /user/webhook")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("webhook_events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {list(WEBHOOK_EVENTS)}")
        return value


def _check_free_data(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value)) > FREE_DATA_MAX_BYTES:
        raise ValueError(f"is over {FREE_DATA_MAX_BYTES} bytes as JSON; keep large content elsewhere")
    return value


FreeData = Annotated[dict[str, Any] | None, AfterValidator(_check_free_data)]


class UserCreate(Lenient):
    email: str = Field(max_length=EMAIL_MAX)
    name: str | None = Field(None, max_length=200)
    image_url: str | None = Field(None, max_length=2000)
    max_concurrent_bots: int | None = Field(None, ge=0, le=10_000)
    data: FreeData = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not EMAIL.match(value):
            raise ValueError("not an e-mail address (expected name@domain)")
        return value


class UserPatch(Lenient):
    name: str | None = Field(None, max_length=200)
    image_url: str | None = Field(None, max_length=2000)
    max_concurrent_bots: int | None = Field(None, ge=0, le=10_000)
    data: FreeData = None


class Paging(Lenient):
    skip: int = Field(0, ge=0, le=MAX_ID)
    limit: int = Field(100, ge=1, le=1000)


class BotStatusReport(Lenient):
    """What a bot tells the appliance about itself (authenticated by its bot token)."""

    status: MeetingStatus
    reason: CompletionReason | None = None
    error_details: str | None = Field(None, max_length=20_000)

    @model_validator(mode="after")
    def _reason_only_when_completed(self) -> BotStatusReport:
        if self.reason is not None and self.status != MeetingStatus.COMPLETED:
            raise ValueError(
                f"reason is a completion reason; send it only with status 'completed' (got '{self.status}')"
            )
        return self


# ---- responses ------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MeetingOut(Out):
    id: int
    user_id: int
    platform: str
    native_meeting_id: str
    constructed_meeting_url: str
    status: MeetingStatus
    completion_reason: str | None
    failure_stage: str | None
    error_details: str | None
    bot_container_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class MeetingList(Out):
    meetings: list[MeetingOut]


class SearchHit(Out):
    """One matching segment; `snippet` has each matched word between ** and **."""

    meeting_id: int
    platform: str
    native_meeting_id: str
    meeting_name: str | None
    segment_id: str
    start: float
    end: float
    speaker: str | None
    snippet: str


class SearchResults(Out):
    results: list[SearchHit]


class RuntimeRef(Out):
    kind: str | None
    id: str | None


class RunningBot(Out):
    meeting_id: int
    platform: str
    native_meeting_id: str
    status: MeetingStatus
    bot_name: str | None
    created_at: datetime
    runtime: RuntimeRef


class RunningBots(Out):
    running_bots: list[RunningBot]


class Message(Out):
    message: str


class SegmentOut(Out):
    segment_id: str
    start: float
    end: float
    text: str
    language: str | None
    speaker: str | None
    completed: bool
    absolute_start_time: datetime | None
    absolute_end_time: datetime | None
    created_at: datetime
    updated_at: datetime


def segment_json(row: Any) -> dict[str, Any]:
    """A stored segment as clients receive it (REST, /ws, webhooks of live events)."""
    return SegmentOut.model_validate(row).model_dump(mode="json")


class MediaFileOut(Out):
    id: int
    type: str
    format: str
    file_size_bytes: int | None
    duration_seconds: float | None
    created_at: datetime


class RecordingOut(Out):
    id: int
    meeting_id: int
    user_id: int
    status: str
    source: str
    created_at: datetime
    completed_at: datetime | None
    media_files: list[MediaFileOut]


class RecordingList(Out):
    recordings: list[RecordingOut]


class TranscriptOut(Out):
    id: int
    platform: str
    native_meeting_id: str
    constructed_meeting_url: str
    status: MeetingStatus
    start_time: datetime | None
    end_time: datetime | None
    recordings: list[RecordingOut]
    notes: str | None
    segments: list[SegmentOut]


class ShareOut(Out):
    """A new share link: `url` is shown once (only its hash is stored)."""

    id: int
    share_id: str
    url: str
    expires_at: datetime
    reachable_from: Literal["configured", "lan", "this_machine"] = Field(
        description="Who can open `url`: `configured` (VOMEET_PUBLIC_URL), `lan` (the box's LAN "
        "address), `this_machine` (the server listens on loopback only; set VOMEET_PUBLIC_URL)"
    )


class ShareInfo(Out):
    """A share link of a meeting (its secret is never shown again)."""

    id: int
    created_at: datetime
    expires_at: datetime
    expired: bool


class ShareList(Out):
    shares: list[ShareInfo]


class TokenInfo(Out):
    id: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class UserOut(Out):
    id: int
    email: str
    name: str | None
    image_url: str | None
    max_concurrent_bots: int
    data: dict[str, Any]
    webhook_url: str | None
    webhook_events: list[str] | None
    has_webhook_secret: bool
    created_at: datetime


class WebhookOut(Out):
    """The user's webhook as stored (never the secret itself)."""

    webhook_url: str | None
    webhook_events: list[str] | None
    has_webhook_secret: bool


class UserDetail(UserOut):
    tokens: list[TokenInfo]


class TokenCreated(Out):
    id: int
    token: str
    user_id: int
    created_at: datetime


class DeliveryOut(Out):
    id: int
    event_id: str
    event_type: str
    meeting_id: int | None
    url: str
    attempt: int
    attempts: list[dict[str, Any]]
    status: str
    status_code: int | None
    last_error: str | None
    next_retry_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryList(Out):
    deliveries: list[DeliveryOut]
