"""bot/commands.py against the real appliance: a running bot applies every configuration change
(PUT /bots/.../config), the first one included, and stops when the appliance says so (issue: the
first change after the bot's start was taken for the configuration it started with, and never
reached its ASR streams)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from bot.appliance_link import ApplianceLink
from bot.commands import CommandWatcher
from tests.api.conftest import ApiUser, Bots, meet_code
from tests.conftest import Appliance, bot_token_of, wait_until


def test_the_bot_applies_each_configuration_change_and_stops_when_told(
    appliance: Appliance, make_user: Any, bots: Bots
) -> None:
    user: ApiUser = make_user()
    code = meet_code()
    created = bots.launch(user, platform="google_meet", native_meeting_id=code)
    assert created.status_code == 201, created.text
    meeting = created.json()
    bots.wait_for(user.client, meeting["id"], {"joining"})
    token = bot_token_of(user.client.get(f"/meetings/{meeting['id']}").json())

    applied: list[tuple[str | None, str]] = []
    ended = threading.Event()

    def watch() -> None:  # the bot's command watcher, on the bot's token, in a loop of its own
        async def main() -> None:
            link = ApplianceLink(appliance.base_url, token)
            try:
                watcher = CommandWatcher(link, asyncio.Event(), lambda language, task: applied.append((language, task)))
                await watcher.watch()
            finally:
                await link.close()

        asyncio.run(main())
        ended.set()

    threading.Thread(target=watch, daemon=True).start()
    change = user.client.put(f"/bots/google_meet/{code}/config", json={"language": "de", "task": "translate"})
    assert change.status_code == 202, change.text
    wait_until(lambda: applied == [("de", "translate")], 15, what="the first change applied")
    change = user.client.put(f"/bots/google_meet/{code}/config", json={"language": None})
    assert change.status_code == 202, change.text
    wait_until(lambda: applied == [("de", "translate"), (None, "translate")], 15, what="the second change applied")

    bots.stop(user.client, meeting)
    wait_until(ended.is_set, 15, what="the watcher to stop")
