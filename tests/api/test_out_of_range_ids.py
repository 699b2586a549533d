"""Ids and offsets beyond what the database can hold are answered 404/422, never 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ApiUser
from tests.conftest import Appliance

HUGE = str(10**20)  # more than SQLite's 64-bit integers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/meetings/{HUGE}"),
        ("GET", f"/recordings/{HUGE}"),
        ("DELETE", f"/recordings/{HUGE}"),
        ("GET", f"/recordings/{HUGE}/media/1/raw"),
        ("GET", f"/recordings/1/media/{HUGE}/raw"),
    ],
)
def test_an_id_too_large_for_the_database_is_not_found(make_user: Any, method: str, path: str) -> None:
    user: ApiUser = make_user()
    answer = user.client.request(method, path)
    assert answer.status_code == 404, answer.text
    assert HUGE in answer.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/admin/users/{HUGE}"),
        ("PATCH", f"/admin/users/{HUGE}"),
        ("POST", f"/admin/users/{HUGE}/tokens"),
        ("DELETE", f"/admin/tokens/{HUGE}"),
    ],
)
def test_an_admin_id_too_large_for_the_database_is_not_found(appliance: Appliance, method: str, path: str) -> None:
    with appliance.admin() as admin:
        answer = admin.request(method, path, json={"name": "x"} if method == "PATCH" else None)
    assert answer.status_code == 404, answer.text


@pytest.mark.parametrize(
    ("method", "path", "params", "says"),
    [
        ("GET", "/meetings", {"offset": HUGE}, "query.offset"),
        ("GET", "/recordings", {"skip": HUGE}, "query.skip"),
        ("GET", "/user/webhook/deliveries", {"skip": HUGE}, "query.skip"),
        ("GET", "/transcripts/google_meet/abc-defg-hij", {"meeting_id": HUGE}, "query.meeting_id"),
        ("PATCH", "/meetings/google_meet/abc-defg-hij", {"meeting_id": HUGE}, "query.meeting_id"),
        ("DELETE", "/meetings/google_meet/abc-defg-hij", {"meeting_id": HUGE}, "query.meeting_id"),
        ("POST", "/transcripts/google_meet/abc-defg-hij/share", {"meeting_id": HUGE}, "query.meeting_id"),
    ],
)
def test_a_query_number_too_large_for_the_database_is_422(
    make_user: Any, method: str, path: str, params: dict[str, str], says: str
) -> None:
    user: ApiUser = make_user()
    body = {"data": {"name": "x"}} if method == "PATCH" else ({} if method == "POST" else None)
    answer = user.client.request(method, path, params=params, json=body)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["detail"]


def test_a_share_body_meeting_id_too_large_is_422(make_user: Any) -> None:
    answer = make_user().client.post(
        "/transcripts/google_meet/abc-defg-hij/share", json={"meeting_id": int(HUGE)}
    )
    assert answer.status_code == 422
    assert "body.meeting_id" in answer.json()["detail"]


def test_admin_paging_beyond_the_database_is_422(appliance: Appliance) -> None:
    with appliance.admin() as admin:
        answer = admin.get("/admin/users", params={"skip": HUGE})
    assert answer.status_code == 422
    assert "query.skip" in answer.json()["detail"]
