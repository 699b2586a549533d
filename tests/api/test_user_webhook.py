"""PUT /user/webhook (the secret is never returned) and GET /user/webhook/deliveries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiUser, ApplianceDb, db_time, utcnow
from tests.conftest import Appliance

SECRET = "whsec-correct-horse-battery-staple"


def test_webhook_settings_are_saved_and_the_secret_never_comes_back(
    appliance: Appliance, make_user: Any, db: ApplianceDb
) -> None:
    user: ApiUser = make_user()
    answer = user.client.put(
        "/user/webhook",
        json={"webhook_url": "https://hooks.example.org/vomeet", "webhook_secret": SECRET,
              "webhook_events": ["meeting.completed", "bot.failed"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == user.id and body["email"] == user.email
    assert body["webhook_url"] == "https://hooks.example.org/vomeet"
    assert body["webhook_events"] == ["meeting.completed", "bot.failed"]
    assert body["has_webhook_secret"] is True
    assert SECRET not in answer.text
    with appliance.admin() as admin:
        seen_by_admin = admin.get(f"/admin/users/{user.id}")
    assert seen_by_admin.json()["webhook_url"] == "https://hooks.example.org/vomeet"
    assert SECRET not in seen_by_admin.text
    stored = db.row("SELECT webhook_url, webhook_secret FROM users WHERE id = ?", user.id)
    assert stored is not None and stored["webhook_secret"] == SECRET  # kept to sign deliveries

    # Changing the URL without a secret keeps the secret; events can be reset to all (null).
    moved = user.client.put("/user/webhook", json={"webhook_url": "http://10.0.0.5:8080/hook"})
    assert moved.status_code == 200
    assert moved.json()["webhook_url"] == "http://10.0.0.5:8080/hook"
    assert moved.json()["has_webhook_secret"] is True
    assert moved.json()["webhook_events"] is None
    assert SECRET not in moved.text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "body.webhook_url"),
        ({"webhook_url": "ftp://hooks.example.org/x"}, "must be an http:// or https:// URL"),
        ({"webhook_url": "https://hooks.example.org/x", "webhook_events": ["meeting.exploded"]}, "unknown event"),
        ({"webhook_url": "https://hooks.example.org/x", "webhook_secret": "short"}, "body.webhook_secret"),
    ],
)
def test_bad_webhook_settings_are_422(make_user: Any, body: dict[str, Any], says: str) -> None:
    user: ApiUser = make_user()
    answer = user.client.put("/user/webhook", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


def insert_delivery(db: ApplianceDb, user_id: int, event_type: str, attempt: int, status: str,
                    status_code: int | None, retry_in_s: int | None, meeting_id: int | None = None) -> int:
    now = utcnow()
    return db.execute(
        "INSERT INTO webhook_deliveries (user_id, meeting_id, event_id, event_type, url, payload, attempt, "
        "status, status_code, last_error, next_retry_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        user_id, meeting_id, f"evt-{user_id}-{event_type}-{attempt}", event_type, "https://hooks.example.org/x",
        json.dumps({"event_type": event_type}), attempt, status, status_code,
        None if status_code in (None, 200) else f"HTTP {status_code}",
        db_time(now + timedelta(seconds=retry_in_s)) if retry_in_s else None, db_time(now), db_time(now),
    )


def test_the_delivery_log_shows_the_users_own_deliveries_newest_first(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    other: ApiUser = make_user()
    meeting_id = db.insert_meeting(user.id)
    assert user.client.get("/user/webhook/deliveries").json() == {"deliveries": []}
    delivered = insert_delivery(db, user.id, "meeting.status_change", 1, "delivered", 200, None, meeting_id)
    retrying = insert_delivery(db, user.id, "meeting.completed", 2, "pending", 503, 120, meeting_id)
    insert_delivery(db, other.id, "bot.failed", 1, "failed", 404, None)

    answer = user.client.get("/user/webhook/deliveries")
    assert answer.status_code == 200
    deliveries = answer.json()["deliveries"]
    assert [d["id"] for d in deliveries] == [retrying, delivered]
    latest = deliveries[0]
    assert (latest["event_type"], latest["attempt"], latest["status"], latest["status_code"]) == (
        "meeting.completed", 2, "pending", 503,
    )
    assert latest["meeting_id"] == meeting_id
    assert latest["next_retry_at"] is not None and latest["last_error"] == "HTTP 503"
    assert deliveries[1]["next_retry_at"] is None and deliveries[1]["status_code"] == 200
    listed = "/user/webhook/deliveries"
    assert [d["id"] for d in user.client.get(listed, params={"limit": 1}).json()["deliveries"]] == [retrying]
    assert [d["id"] for d in user.client.get(listed, params={"skip": 1}).json()["deliveries"]] == [delivered]
    assert [d["event_type"] for d in other.client.get(listed).json()["deliveries"]] == ["bot.failed"]


def test_the_webhook_can_be_read_back_and_removed(make_user: Any, db: ApplianceDb) -> None:
    user: ApiUser = make_user()
    assert user.client.get("/user/webhook").json() == {
        "webhook_url": None, "webhook_events": None, "has_webhook_secret": False,
    }
    user.client.put("/user/webhook", json={"webhook_url": "https://10.0.0.7/h", "webhook_secret": SECRET,
                                           "webhook_events": ["meeting.completed"]})
    read = user.client.get("/user/webhook")
    assert read.status_code == 200
    assert read.json() == {"webhook_url": "https://10.0.0.7/h", "webhook_events": ["meeting.completed"],
                           "has_webhook_secret": True}
    assert SECRET not in read.text
    owed = insert_delivery(db, user.id, "meeting.completed", 1, "pending", 503, 60)

    assert user.client.delete("/user/webhook").status_code == 204
    assert user.client.get("/user/webhook").json()["webhook_url"] is None
    stored = db.row("SELECT webhook_url, webhook_secret FROM users WHERE id = ?", user.id)
    assert stored is not None and tuple(stored) == (None, None)  # the secret is gone too
    # Nothing more goes to the removed target; the log keeps what happened.
    [delivery] = user.client.get("/user/webhook/deliveries").json()["deliveries"]
    assert (delivery["id"], delivery["status"], delivery["last_error"]) == (owed, "failed", "the webhook was removed")
    assert user.client.delete("/user/webhook").status_code == 204  # idempotent


@pytest.mark.parametrize("url", [None, "", "   "])
def test_an_empty_webhook_url_says_how_to_remove_it(make_user: Any, url: str | None) -> None:
    user: ApiUser = make_user()
    answer = user.client.put("/user/webhook", json={"webhook_url": url})
    assert answer.status_code == 422
    if url is not None:
        assert "DELETE /user/webhook" in answer.json()["detail"]
