"""Pairing a device against a real appliance with TLS on (docs/pairing.md): the code, the
decision on the console, the token collected once, and every refusal with what to do."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import Appliance, wait_until
from tests.console.conftest import csrf_of
from tests.devices.conftest import PairingBox, asking_row, start_box
from tests.devices.device import Device, fingerprint_of
from tests.tls_helpers import pinned_context, served_pem


def start_pairing(box: PairingBox, device: Device) -> dict:
    with box.pinned() as client:
        answer = device.ask(client)
    assert answer.status_code == 201, answer.text
    return answer.json()


def pair(box: PairingBox, device: Device, api_key: str) -> tuple[dict, dict]:
    """Ask, approve as the user of `api_key` on the console, collect: (the request, the answer)."""
    started = start_pairing(box, device)
    with box.console.signed_in(api_key=api_key) as user:
        box.decide(user, box.listed(user, device.device_id)[0], "approve")
    with box.pinned() as client:
        collected = device.poll(client, started["request_id"])
    assert collected.status_code == 200, collected.text
    return started, collected.json()


def test_a_paired_device_gets_a_token_once_that_works_and_is_stored_hashed(box: PairingBox) -> None:
    _, key = box.tls.app.new_user("ada@example.com")
    device = Device(name="Ada's laptop")
    seen = fingerprint_of(served_pem(box.tls.https_port))
    started = start_pairing(box, device)
    assert started["fingerprint"] == seen
    with box.pinned() as client:
        waiting = device.poll(client, started["request_id"]).json()
    assert waiting["state"] == "pending" and waiting["token"] is None
    assert "Devices page" in waiting["detail"]

    with box.console.signed_in(api_key=key) as user:
        number, shown = box.listed(user, device.device_id)
        assert shown == device.code(seen, started["server_nonce"])
        assert "is paired" in box.decide(user, number, "approve")

    with box.pinned() as client:
        first = device.poll(client, started["request_id"]).json()
        second = device.poll(client, started["request_id"]).json()
        assert first["state"] == "approved" and first["token"].startswith("vmt_")
        assert first["user"] == "ada@example.com"
        assert second["state"] == "approved" and second["token"] is None
        assert "start pairing again" in second["detail"]
        token = first["token"]
        meetings = client.get("/meetings", headers={"X-API-Key": token})
        assert meetings.status_code == 200, meetings.text
        devices = client.get("/devices", headers={"X-API-Key": token}).json()["devices"]
    assert [(d["name"], d["state"], d["last_address"]) for d in devices] == [("Ada's laptop", "paired", "127.0.0.1")]

    # /ws over the pinned connection takes it too.
    with connect(f"wss://127.0.0.1:{box.tls.https_port}/ws", ssl=pinned_context(box.tls.certificate_pem()),
                 additional_headers={"X-API-Key": token}, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}

    # At rest only its hash: not in the database file nor its write-ahead log.
    data = box.tls.app.data_dir
    with closing(sqlite3.connect(data / "vomeet.db")) as db:
        (linked,) = db.execute(
            "SELECT COUNT(*) FROM devices JOIN api_tokens ON api_tokens.id = devices.token_id "
            "WHERE api_tokens.token_hash = ?", (hashlib.sha256(token.encode()).hexdigest(),)
        ).fetchone()
    assert linked == 1
    stored = b"".join(p.read_bytes() for p in data.glob("vomeet.db*"))
    assert token.encode() not in stored


def test_the_device_token_has_no_admin_rights(box: PairingBox) -> None:
    _, key = box.tls.app.new_user("grace@example.com")
    _, collected = pair(box, Device(), key)
    with box.pinned() as client:
        as_admin = client.get("/admin/users", headers={"X-Admin-API-Key": collected["token"]})
        as_user = client.get("/admin/users", headers={"X-API-Key": collected["token"]})
    assert as_admin.status_code == 401 and as_user.status_code == 401


def test_a_rejected_request_tells_the_device_the_code_was_not_confirmed(box: PairingBox) -> None:
    _, key = box.tls.app.new_user("linus@example.com")
    device = Device()
    started = start_pairing(box, device)
    with box.console.signed_in(api_key=key) as user:
        number, _ = box.listed(user, device.device_id)
        assert "rejected" in box.decide(user, number, "reject")
        assert asking_row(user.get("/ui/devices").text, device.device_id) is None
        # Decided once: approving it afterwards is refused, and says so.
        assert "was rejected already" in box.decide(user, number, "approve")
    with box.pinned() as client:
        answer = device.poll(client, started["request_id"]).json()
    assert answer["state"] == "rejected" and answer["token"] is None
    assert "same code" in answer["detail"] and "start pairing again" in answer["detail"]


def test_a_poll_not_signed_with_the_requests_key_is_refused(box: PairingBox) -> None:
    device = Device()
    started = start_pairing(box, device)
    impostor = Device()
    with box.pinned() as client:
        forged = device.poll(client, started["request_id"], impostor.signature(started["request_id"]))
        unsigned = device.poll(client, started["request_id"], "")
        wrong_message = device.poll(client, started["request_id"], device.signature("another-request"))
        honest = device.poll(client, started["request_id"])
    for refused in (forged, unsigned, wrong_message):
        assert refused.status_code == 401
        assert "X-Device-Signature" in refused.json()["detail"]
    assert honest.status_code == 200 and honest.json()["state"] == "pending"


def test_a_revoked_device_is_told_to_pair_again(box: PairingBox) -> None:
    _, key = box.tls.app.new_user("barbara@example.com")
    _, collected = pair(box, Device(name="Old laptop"), key)
    token = collected["token"]
    with box.pinned(headers={"X-API-Key": key}) as client:
        (device,) = client.get("/devices").json()["devices"]
        assert client.delete(f"/devices/{device['id']}").status_code == 204
        refused = client.get("/meetings", headers={"X-API-Key": token})
        (revoked,) = client.get("/devices").json()["devices"]
    assert refused.status_code == 401
    assert refused.json()["detail"] == "This device was revoked; pair it again."
    assert revoked["state"] == "revoked" and revoked["revoked_at"]


def test_a_user_cannot_see_approve_for_or_revoke_another_users_device(box: PairingBox) -> None:
    _, alice = box.tls.app.new_user("alice@example.com")
    _, bob = box.tls.app.new_user("bob@example.com")
    alices_device = Device(name="Alice's desktop")
    _, collected = pair(box, alices_device, alice)
    with box.pinned(headers={"X-API-Key": alice}) as client:
        (alices,) = client.get("/devices").json()["devices"]
    with box.pinned(headers={"X-API-Key": bob}) as client:
        assert client.get("/devices").json()["devices"] == []
        assert client.delete(f"/devices/{alices['id']}").status_code == 404

    # Bob approving with Alice's user id chosen still pairs the device to Bob: a user approves
    # for themselves only. The request even names Alice's device id (an announcement anyone can
    # copy): Bob gets a device of his own, Alice keeps hers.
    device = Device(name="Shared PC", device_id=alices_device.device_id)
    started = start_pairing(box, device)
    with box.console.signed_in(api_key=bob) as user:
        assert "Alice's desktop" not in user.get("/ui/devices").text
        number, _ = box.listed(user, device.device_id)
        alice_id = box.tls.app.new_user("alice@example.com")[0]
        box.decide(user, number, "approve", user_id=str(alice_id))
        revoke = user.post(f"/ui/devices/{alices['id']}/revoke",
                           data={"csrf_token": csrf_of(user.get("/ui/devices").text)})
        assert revoke.status_code == 303
        assert f"There is no device {alices['id']} of yours" in user.get(revoke.headers["location"]).text
    with box.pinned() as client:
        assert device.poll(client, started["request_id"]).json()["user"] == "bob@example.com"
        assert client.get("/meetings", headers={"X-API-Key": collected["token"]}).status_code == 200
        (still,) = client.get("/devices", headers={"X-API-Key": alice}).json()["devices"]
        (bobs,) = client.get("/devices", headers={"X-API-Key": bob}).json()["devices"]
    assert (still["id"], still["state"]) == (alices["id"], "paired")
    assert bobs["name"] == "Shared PC" and bobs["id"] != alices["id"]


def test_an_administrator_approves_for_the_user_they_choose(box: PairingBox) -> None:
    user_id, _ = box.tls.app.new_user("margaret@example.com")
    device = Device(name="Lab machine")
    started = start_pairing(box, device)
    with box.console.signed_in() as admin:
        number, _ = box.listed(admin, device.device_id)
        assert "Choose the user" in box.decide(admin, number, "approve")
        box.decide(admin, number, "approve", user_id=str(user_id))
        page = admin.get("/ui/devices").text
    assert "Lab machine" in page and "by administrator admin" in page
    with box.pinned() as client:
        assert device.poll(client, started["request_id"]).json()["user"] == "margaret@example.com"


def test_pairing_is_refused_without_tls(appliance: Appliance) -> None:
    with appliance.client() as client:
        answer = Device().ask(client)
    assert answer.status_code == 409
    assert "VOMEET_TLS=on" in answer.json()["detail"]


@pytest.fixture
def strict_box(tmp_path: Path) -> Iterator[PairingBox]:
    started = start_box(tmp_path / "data", pairing_expiry_s="1", pairing_request_limit="2", pairing_poll_limit="3")
    yield started
    started.stop()


def test_an_expired_request_says_start_again_and_cannot_be_approved(strict_box: PairingBox) -> None:
    _, key = strict_box.tls.app.new_user("edsger@example.com")
    device = Device()
    started = start_pairing(strict_box, device)
    with strict_box.console.signed_in(api_key=key) as user:
        number, _ = strict_box.listed(user, device.device_id)
        # Gone from the page once expired; approving it then is refused.
        wait_until(lambda: asking_row(user.get("/ui/devices").text, device.device_id) is None,
                   timeout_s=10, what="the request to expire")
        assert "has expired" in strict_box.decide(user, number, "approve")
    with strict_box.pinned() as client:
        answer = device.poll(client, started["request_id"]).json()
    assert answer["state"] == "expired" and "start pairing again" in answer["detail"]


def test_requests_per_address_and_polls_per_request_are_limited(strict_box: PairingBox) -> None:
    device = Device()
    with strict_box.pinned() as client:
        first = device.ask(client)
        assert first.status_code == 201
        polls = [device.poll(client, first.json()["request_id"]) for _ in range(4)]
        assert [p.status_code for p in polls] == [200, 200, 200, 429]
        assert 1 <= int(polls[-1].headers["Retry-After"]) <= 60
        assert device.ask(client).status_code == 201
        refused = device.ask(client)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert "Too many pairing requests" in refused.json()["detail"]
