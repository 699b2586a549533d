"""The REST calls the client's windows make, against a real appliance over the pinned connection:
send a bot from a pasted invitation, list, search, export, share, stop; and following the
appliance when the address it was known at stops answering."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest

from client.api import ApplianceClient
from client.discovery import ApplianceAd
from client.errors import ClientError, ErrorKind
from client.links import meeting_link_in
from client.store import RememberedAppliance
from tests.client.conftest import CuttableRelay, MakeBox, remembered, unique
from tests.conftest import wait_until
from tests.live.conftest import Bot

INVITATION = """Join the weekly sync:
Google Meet joining info
Video call link: https://meet.google.com/cli-entx-api.
Or dial: +1 555 0100"""


def test_a_bot_sent_from_an_invitation_is_listed_searched_exported_and_stopped(make_box: MakeBox) -> None:
    box = make_box()
    _, token = box.app.new_user(unique("erin") + "@example.com")
    api = ApplianceClient(remembered(box), token)
    link = meeting_link_in(INVITATION)
    assert link == "https://meet.google.com/cli-entx-api"

    meeting = api.send_bot(link)
    assert (meeting["platform"], meeting["native_meeting_id"]) == ("google_meet", "cli-entx-api")
    assert [m["id"] for m in api.meetings()] == [meeting["id"]]
    assert [b["native_meeting_id"] for b in api.running_bots()] == ["cli-entx-api"]
    with pytest.raises(ClientError) as twice:
        api.send_bot(link)
    assert twice.value.status == 409 and "sending a bot failed" in str(twice.value)

    bot = Bot(box.app, meeting)
    bot.segments("Alice", ("s1", 0.0, 2.0, "The budget for next year is approved.", True))
    bot.client.close()
    found = api.search("budget")
    assert [(r["meeting_id"], r["speaker"]) for r in found] == [(meeting["id"], "Alice")]
    assert "**budget**" in found[0]["snippet"]

    assert "The budget for next year is approved." in api.export("google_meet", "cli-entx-api", "txt")
    assert "-->" in api.export("google_meet", "cli-entx-api", "srt")
    assert api.export("google_meet", "cli-entx-api", "vtt").startswith("WEBVTT")
    exported = json.loads(api.export("google_meet", "cli-entx-api", "json"))
    assert [s["text"] for s in exported["segments"]] == ["The budget for next year is approved."]

    shared = api.share_link("google_meet", "cli-entx-api", ttl_seconds=3600)
    assert "/public/transcripts/" in shared["url"]
    public = httpx.get(box.app.base_url + urlsplit(shared["url"]).path)  # the public link needs no key
    assert "approved" in public.text
    assert api.console_meeting_url(meeting["id"]) == f"https://127.0.0.1:{box.https_port}/ui/meetings/{meeting['id']}"

    api.stop_bot("google_meet", "cli-entx-api")
    wait_until(lambda: api.meeting(meeting["id"])["status"] in ("completed", "failed"), 60, what="the bot to end")
    assert api.upcoming() == []
    api.close()


def test_the_client_follows_the_appliance_to_its_new_address(make_box: MakeBox) -> None:
    box = make_box()
    _, token = box.app.new_user(unique("frank") + "@example.com")
    # Known at 127.0.0.2, where nothing answers now (the box listens on 127.0.0.1 only):
    # mDNS says where it is, and the client moves there and says so.
    known = replace(remembered(box), addresses=("127.0.0.2",))
    announced = ApplianceAd(id=known.id, name="test box", version="", addresses=("127.0.0.1",),
                            port=box.https_port, tls=True, fingerprint=None)
    moves: list[RememberedAppliance] = []
    api = ApplianceClient(known, token, locate=lambda wanted: announced if wanted == known.id else None,
                          on_change=moves.append)
    assert api.meetings() == []
    assert [m.addresses for m in moves] == [("127.0.0.1",)]
    assert api.base_url == f"https://127.0.0.1:{box.https_port}/"
    api.close()

    lost = ApplianceClient(known, token, locate=lambda wanted: None)
    with pytest.raises(ClientError) as unreachable:
        lost.meetings()
    assert unreachable.value.kind is ErrorKind.UNREACHABLE
    assert "is unreachable at 127.0.0.2" in str(unreachable.value) and "not announcing itself" in str(unreachable.value)
    lost.close()


def test_another_certificate_at_the_old_address_sends_the_client_looking(
    make_box: MakeBox, relay_factory: Callable[..., CuttableRelay]
) -> None:
    """The appliance's old DHCP lease now belongs to another HTTPS server: the pin refuses it,
    and the client finds the appliance where mDNS says it is instead of stopping there."""
    box, other = make_box(), make_box()
    _, token = box.app.new_user(unique("gina") + "@example.com")
    old = relay_factory(other.https_port, host="127.0.0.2")
    new = relay_factory(box.https_port, host="127.0.0.3", port=old.port)
    known = replace(remembered(box), addresses=("127.0.0.2",), port=old.port)
    announced = ApplianceAd(id=known.id, name="test box", version="", addresses=("127.0.0.3",), port=new.port,
                            tls=True, fingerprint=None)
    api = ApplianceClient(known, token, locate=lambda wanted: announced)
    assert api.meetings() == [] and api.appliance.addresses == ("127.0.0.3",)
    api.close()

    nowhere = ApplianceClient(known, token, locate=lambda wanted: None)
    with pytest.raises(ClientError) as refused:
        nowhere.meetings()
    assert refused.value.kind is ErrorKind.CERTIFICATE_CHANGED
    nowhere.close()
