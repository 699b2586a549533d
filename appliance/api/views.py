"""Database rows to wire models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from appliance.api.schemas import MeetingOut, RecordingOut, UserDetail, UserOut, WebhookOut
from appliance.db.models import Meeting, Recording, User


def meeting_view(meeting: Meeting | Row[Any]) -> MeetingOut:
    """From a Meeting, or a row of the meetings table's columns (listings)."""
    data = dict(meeting.data)
    data.pop("bot_config", None)
    data["status_transition"] = list(meeting.transitions)
    return MeetingOut.model_validate(
        {
            **{name: getattr(meeting, name) for name in MeetingOut.model_fields if name != "data"},
            "data": data,
        }
    )


def user_view(user: User) -> UserOut:
    return UserOut.model_validate(
        {**_user_fields(user), "has_webhook_secret": bool(user.webhook_secret)}
    )


def webhook_view(user: User) -> WebhookOut:
    return WebhookOut(
        webhook_url=user.webhook_url, webhook_events=user.webhook_events, has_webhook_secret=bool(user.webhook_secret)
    )


def user_detail_view(user: User) -> UserDetail:
    return UserDetail.model_validate(
        {
            **_user_fields(user),
            "has_webhook_secret": bool(user.webhook_secret),
            "tokens": list(user.tokens),
        }
    )


def _user_fields(user: User) -> dict[str, object]:
    names = set(UserOut.model_fields) - {"has_webhook_secret"}
    return {name: getattr(user, name) for name in names}


def recording_view(recording: Recording) -> RecordingOut:
    return RecordingOut.model_validate(recording)
