"""Bodies and fields have limits, with clear errors (issue: a 30 MB body was parsed before the
422, a 10 MB `data.participants` was accepted and echoed in every list, a 312-character e-mail
was accepted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from tests.api.conftest import ApiUser
from tests.conftest import Appliance


def test_an_oversized_body_is_413_before_it_is_read(appliance: Appliance, make_user: Any) -> None:
    user: ApiUser = make_user()
    big = b'{"meeting_url": "' + b"x" * (30 * 1024 * 1024) + b'"}'
    answer = user.client.post("/bots", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]


def test_a_chunked_oversized_body_is_413_too(appliance: Appliance, make_user: Any) -> None:
    user: ApiUser = make_user()

    def chunks() -> Iterator[bytes]:
        yield b'{"data": {"notes": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}}'

    answer = user.client.patch("/meetings/google_meet/abc-defg-hij", content=chunks(),
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_participants_are_bounded(appliance: Appliance, make_user: Any, db: Any) -> None:
    user: ApiUser = make_user()
    db.insert_meeting(user.id, native_meeting_id="siz-elim-its")
    path = "/meetings/google_meet/siz-elim-its"
    huge = user.client.patch(path, json={"data": {"participants": ["p" * 1000] * 10}})
    assert huge.status_code == 422 and "participants" in huge.json()["detail"]
    many = user.client.patch(path, json={"data": {"participants": [f"p{n}" for n in range(10_000)]}})
    assert many.status_code == 422
    ok = user.client.patch(path, json={"data": {"participants": ["Ana", "Ben"]}})
    assert ok.status_code == 200 and ok.json()["data"]["participants"] == ["Ana", "Ben"]


def test_an_email_longer_than_rfc_5321_allows_is_refused(appliance: Appliance) -> None:
    with appliance.admin() as admin:
        long_local = admin.post("/admin/users", json={"email": "a" * 65 + "@example.com"})
        assert long_local.status_code == 422
        too_long = admin.post("/admin/users", json={"email": "a" * 60 + "@" + "b" * 250 + ".com"})
        assert too_long.status_code == 422 and "body.email" in too_long.json()["detail"]
        user_data = admin.post("/admin/users", json={"email": "free@example.com", "data": {"blob": "z" * 20_000}})
        assert user_data.status_code == 422 and "body.data" in user_data.json()["detail"]


def test_the_limit_is_in_the_published_schema(appliance: Appliance) -> None:
    spec = httpx.get(f"{appliance.base_url}/openapi.json").json()
    assert "413" in spec["paths"]["/bots"]["post"]["responses"]
