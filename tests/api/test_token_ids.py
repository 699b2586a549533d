"""A revoked token's id never names another key (issue: ids were reused, so a late
DELETE /admin/tokens/N revoked another user's new key)."""

from __future__ import annotations

from tests.conftest import Appliance


def test_a_revoked_tokens_id_is_not_given_to_the_next_token(appliance: Appliance) -> None:
    alice, _ = appliance.new_user("ids-alice@example.com")
    bob, _ = appliance.new_user("ids-bob@example.com")
    with appliance.admin() as admin:
        newest = admin.post(f"/admin/users/{alice}/tokens").json()
        assert admin.delete(f"/admin/tokens/{newest['id']}").status_code == 204
        bobs = admin.post(f"/admin/users/{bob}/tokens").json()
        assert bobs["id"] > newest["id"]
        # The late, repeated revocation of Alice's key cannot reach Bob's.
        assert admin.delete(f"/admin/tokens/{newest['id']}").status_code == 404
    with appliance.client(bobs["token"]) as client:
        assert client.get("/meetings").status_code == 200
