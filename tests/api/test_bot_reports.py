"""What a bot may report: a completion reason only with `completed` (issue: a reason was accepted
on a non-terminal move and written into the meeting's history)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import ApiUser, Bots
from tests.conftest import Appliance, bot_token_of


def test_a_completion_reason_on_a_live_move_is_refused(appliance: Appliance, make_user: Any, bots: Bots) -> None:
    user: ApiUser = make_user()
    created = bots.launch(user, platform="google_meet", native_meeting_id="rea-sonn-tst")
    assert created.status_code == 201, created.text
    meeting = created.json()
    bots.wait_for(user.client, meeting["id"], {"joining"})
    live = user.client.get(f"/meetings/{meeting['id']}").json()
    headers = {"Authorization": f"Bearer {bot_token_of(live)}"}
    with httpx.Client(base_url=appliance.base_url, headers=headers, timeout=30) as bot:
        refused = bot.post("/internal/bot/status", json={"status": "awaiting_admission", "reason": "left_alone"})
        assert refused.status_code == 422
        assert "only with status 'completed'" in refused.json()["detail"]
    after = user.client.get(f"/meetings/{meeting['id']}").json()
    assert after["status"] == "joining"
    assert after["data"]["status_transition"][-1]["to"] == "joining"
    assert all(m["reason"] != "left_alone" for m in after["data"]["status_transition"])
