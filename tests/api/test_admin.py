"""The admin API: users (find-or-create, list, get, patch) and tokens (issue, revoke)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Appliance

USER_FIELDS = {
    "id", "email", "name", "image_url", "max_concurrent_bots", "data", "webhook_url",
    "webhook_events", "has_webhook_secret", "created_at",
}


def email(tag: str) -> str:
    return f"admin-{tag}-{uuid.uuid4().hex[:8]}@example.com"


def test_create_user_then_find_or_create_returns_the_same_one(appliance: Appliance) -> None:
    address = email("create")
    with appliance.admin() as admin:
        created = admin.post(
            "/admin/users",
            json={"email": address, "name": "Ana", "image_url": "https://img.example/a.png",
                  "max_concurrent_bots": 3, "data": {"team": "ops"}},
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert set(user) == USER_FIELDS
        assert (user["email"], user["name"], user["image_url"], user["max_concurrent_bots"], user["data"]) == (
            address, "Ana", "https://img.example/a.png", 3, {"team": "ops"},
        )
        assert user["webhook_url"] is None and user["has_webhook_secret"] is False

        # Same address (any case, stray spaces): 200 with the existing user, nothing overwritten.
        again = admin.post(
            "/admin/users", json={"email": f"  {address.upper()} ", "name": "Other", "max_concurrent_bots": 9}
        )
        assert again.status_code == 200, again.text
        assert again.json()["id"] == user["id"]
        assert again.json()["name"] == "Ana" and again.json()["max_concurrent_bots"] == 3

        # Without a limit, a new user gets the appliance's default (1).
        plain = admin.post("/admin/users", json={"email": email("default")})
        assert plain.status_code == 201
        assert plain.json()["max_concurrent_bots"] == 1
        assert plain.json()["name"] is None and plain.json()["data"] == {}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "body.email"),
        ({"email": "not-an-address"}, "not an e-mail address"),
        ({"email": "a@example.com", "max_concurrent_bots": -1}, "body.max_concurrent_bots"),
        ({"email": "a@example.com", "data": [1, 2]}, "body.data"),
    ],
)
def test_bad_user_creation_is_422(appliance: Appliance, body: dict[str, Any], says: str) -> None:
    with appliance.admin() as admin:
        answer = admin.post("/admin/users", json=body)
    assert answer.status_code == 422
    assert says in answer.json()["detail"]


def test_list_users_pages_by_id(appliance: Appliance) -> None:
    with appliance.admin() as admin:
        made = [admin.post("/admin/users", json={"email": email(f"list{n}")}).json()["id"] for n in range(3)]
        everyone = admin.get("/admin/users", params={"limit": 1000})
        assert everyone.status_code == 200
        listed = [u["id"] for u in everyone.json()]
        assert listed == sorted(listed)
        assert set(made) <= set(listed)
        position = listed.index(made[0])
        page = admin.get("/admin/users", params={"skip": position, "limit": 2}).json()
        assert [u["id"] for u in page] == listed[position:position + 2]
        assert all(set(u) == USER_FIELDS for u in page)
        assert admin.get("/admin/users", params={"limit": 0}).status_code == 422
        assert admin.get("/admin/users", params={"skip": -1}).status_code == 422


def test_a_user_is_found_by_id_and_by_email_with_tokens_but_never_their_secrets(appliance: Appliance) -> None:
    address = email("detail")
    user_id, token = appliance.new_user(address)
    with appliance.admin() as admin:
        by_id = admin.get(f"/admin/users/{user_id}")
        assert by_id.status_code == 200
        detail = by_id.json()
        assert set(detail) == USER_FIELDS | {"tokens"}
        [shown] = detail["tokens"]
        assert set(shown) == {"id", "prefix", "created_at", "last_used_at"}
        assert token.startswith(shown["prefix"]) and len(shown["prefix"]) < len(token) // 2
        assert token not in by_id.text

        by_email = admin.get(f"/admin/users/email/{address.upper()}")
        assert by_email.status_code == 200
        assert by_email.json() == detail

        missing = admin.get(f"/admin/users/{user_id + 100000}")
        assert missing.status_code == 404 and "No user" in missing.json()["detail"]
        assert admin.get("/admin/users/email/nobody-here@example.com").status_code == 404


def test_patch_changes_only_the_given_fields(appliance: Appliance) -> None:
    with appliance.admin() as admin:
        user = admin.post("/admin/users", json={"email": email("patch"), "name": "Before", "max_concurrent_bots": 2,
                                                "data": {"k": "v"}}).json()
        renamed = admin.patch(f"/admin/users/{user['id']}", json={"name": "After"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "After"
        assert renamed.json()["max_concurrent_bots"] == 2 and renamed.json()["data"] == {"k": "v"}

        limited = admin.patch(f"/admin/users/{user['id']}", json={"max_concurrent_bots": 0, "data": {"tier": "pro"},
                                                                "image_url": "https://img.example/b.png"})
        assert limited.status_code == 200
        assert (limited.json()["max_concurrent_bots"], limited.json()["data"], limited.json()["image_url"]) == (
            0, {"tier": "pro"}, "https://img.example/b.png",
        )
        assert limited.json()["name"] == "After"
        assert admin.get(f"/admin/users/{user['id']}").json()["max_concurrent_bots"] == 0

        null_limit = admin.patch(f"/admin/users/{user['id']}", json={"max_concurrent_bots": None})
        assert null_limit.status_code == 422 and "use 0 for unlimited" in null_limit.json()["detail"]
        negative = admin.patch(f"/admin/users/{user['id']}", json={"max_concurrent_bots": -3})
        assert negative.status_code == 422
        assert admin.get(f"/admin/users/{user['id']}").json()["max_concurrent_bots"] == 0
        assert admin.patch(f"/admin/users/{user['id'] + 100000}", json={"name": "x"}).status_code == 404


def test_tokens_are_shown_once_work_and_stop_working_when_revoked(appliance: Appliance) -> None:
    with appliance.admin() as admin:
        user = admin.post("/admin/users", json={"email": email("tokens")}).json()
        first = admin.post(f"/admin/users/{user['id']}/tokens")
        assert first.status_code == 201, first.text
        issued = first.json()
        assert set(issued) == {"id", "token", "user_id", "created_at"}
        assert issued["user_id"] == user["id"]
        assert issued["token"].startswith("vmt_") and len(issued["token"]) >= 4 + 43  # 32 random bytes
        second = admin.post(f"/admin/users/{user['id']}/tokens").json()
        assert second["token"] != issued["token"]
        shown = admin.get(f"/admin/users/{user['id']}").json()["tokens"]
        assert [t["id"] for t in shown] == [issued["id"], second["id"]]

        with appliance.client(issued["token"]) as one, appliance.client(second["token"]) as two:
            assert one.get("/meetings").status_code == 200
            revoked = admin.delete(f"/admin/tokens/{issued['id']}")
            assert revoked.status_code == 204 and revoked.content == b""
            refused = one.get("/meetings")
            assert refused.status_code == 401
            assert "revoked" in refused.json()["detail"]
            assert two.get("/meetings").status_code == 200
        assert [t["id"] for t in admin.get(f"/admin/users/{user['id']}").json()["tokens"]] == [second["id"]]
        assert admin.delete(f"/admin/tokens/{issued['id']}").status_code == 404
        assert admin.post(f"/admin/users/{user['id'] + 100000}/tokens").status_code == 404
