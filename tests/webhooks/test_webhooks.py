"""Webhooks end to end: a real HTTP receiver on loopback, the real appliance and worker."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import signal
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appliance.outbox import event_id
from appliance.webhooks.signing import signature
from appliance.webhooks.targets import TargetRefused, check_for_delivery, check_saved
from tests.conftest import Appliance, HangingMeetingHost, wait_until

SECRET = "receiver-shared-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver on loopback; `answers` is the status code it gives, changeable mid-test."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answer = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(Received(dict(self.headers), body))
                self.send_response(receiver.answer)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vomeet"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, event_type: str) -> list[dict]:
        return [r.json for r in self.received if r.json["event_type"] == event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send_and_stop_bot(app: Appliance, token: str, native: str) -> int:
    with app.client(token) as client:
        created = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": native})
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        wait_until(lambda: client.get(f"/meetings/{meeting_id}").json()["status"] == "joining", 60,
                   what="the bot to report joining")
        assert client.delete(f"/bots/google_meet/{native}").status_code == 202
        wait_until(lambda: client.get(f"/meetings/{meeting_id}").json()["status"] == "completed", 60,
                   what="the meeting to complete")
    return meeting_id


def test_signed_webhooks_for_every_move(make_appliance, hanging_host: HangingMeetingHost, receiver: Receiver) -> None:
    app: Appliance = make_appliance(
        google_meet_base_url=hanging_host.base_url, webhook_allow_internal_targets="true"
    ).start()
    _, token = app.new_user("hooks@example.com")
    with app.client(token) as client:
        saved = client.put("/user/webhook", json={"webhook_url": receiver.url, "webhook_secret": SECRET})
        assert saved.status_code == 200 and "webhook_secret" not in saved.json()

    meeting_id = _send_and_stop_bot(app, token, "hoo-kstt-est")
    wait_until(lambda: receiver.events("meeting.completed") and receiver.events("transcript.ready"), 90,
               what="meeting.completed and transcript.ready to arrive")
    moves = [(e["data"]["previous_status"], e["data"]["status"]) for e in receiver.events("meeting.status_change")]
    assert sorted(moves) == sorted([("requested", "joining"), ("joining", "stopping"), ("stopping", "completed")])

    for request in receiver.received:
        timestamp = request.headers["X-Webhook-Timestamp"]
        expected = "sha256=" + hmac.new(
            SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
        ).hexdigest()
        assert request.headers["X-Webhook-Signature"] == expected
        envelope = request.json
        assert set(envelope) == {"event_id", "event_type", "api_version", "created_at", "data"}
        assert envelope["data"]["meeting"]["id"] == meeting_id
    stop = next(e for e in receiver.events("meeting.status_change") if e["data"]["status"] == "stopping")
    assert stop["data"]["source"] == "user"  # the user-stop path sends its webhook too
    completed = receiver.events("meeting.completed")[0]
    assert completed["event_id"] == event_id("meeting.completed", str(meeting_id))
    assert completed["data"]["meeting"]["completion_reason"] == "stopped"
    assert len({r.json["event_id"] for r in receiver.received}) == len(receiver.received)

    ready = receiver.events("transcript.ready")[0]["data"]
    assert ready["segment_count"] == 0 and ready["participants"] == []

    with app.client(token) as client:
        deliveries = wait_until(
            lambda: (d := client.get("/user/webhook/deliveries").json()["deliveries"])
            and all(x["status"] == "delivered" for x in d) and d,
            30, what="every delivery to be recorded as delivered",
        )
    assert len(deliveries) == len(receiver.received) == 5
    assert all(d["attempts"][-1]["status_code"] == 200 for d in deliveries)


def test_failed_delivery_survives_a_crash_and_is_delivered_after_restart(
    make_appliance, hanging_host: HangingMeetingHost, receiver: Receiver
) -> None:
    app: Appliance = make_appliance(
        google_meet_base_url=hanging_host.base_url, webhook_allow_internal_targets="true",
        webhook_retry_base_s="2",
    ).start()
    _, token = app.new_user("crash@example.com")
    with app.client(token) as client:
        client.put("/user/webhook", json={"webhook_url": receiver.url, "webhook_events": ["meeting.completed"]})
    receiver.answer = 503
    _send_and_stop_bot(app, token, "cra-shre-try")
    wait_until(lambda: receiver.events("meeting.completed"), 60, what="the first, failing attempt")

    with app.admin() as admin:
        children = admin.get("/admin/system").json()["children"]
    app.kill()  # kill -9 of the supervisor ...
    for child in children:  # ... and of its children, as a power cut or the cgroup kill would
        if child["pid"]:
            os.killpg(child["pid"], signal.SIGKILL)

    receiver.answer = 200
    app.start()
    with app.client(token) as client:
        delivered = wait_until(
            lambda: [d for d in client.get("/user/webhook/deliveries").json()["deliveries"]
                     if d["status"] == "delivered"],
            90, what="the retried delivery after the restart",
        )
    attempts = delivered[0]["attempts"]
    assert [a["status_code"] for a in attempts][0] == 503 and attempts[-1]["status_code"] == 200
    assert len({r.json["event_id"] for r in receiver.received}) == 1, "a redelivery keeps its event id"


def test_client_errors_are_final(make_appliance, hanging_host: HangingMeetingHost, receiver: Receiver) -> None:
    app: Appliance = make_appliance(
        google_meet_base_url=hanging_host.base_url, webhook_allow_internal_targets="true",
        webhook_retry_base_s="1",
    ).start()
    _, token = app.new_user("gone@example.com")
    with app.client(token) as client:
        client.put("/user/webhook", json={"webhook_url": receiver.url, "webhook_events": ["meeting.completed"]})
        receiver.answer = 410
        _send_and_stop_bot(app, token, "gon-ewit-hit")
        failed = wait_until(
            lambda: [d for d in client.get("/user/webhook/deliveries").json()["deliveries"]
                     if d["status"] == "failed"],
            60, what="the delivery to be given up",
        )
    assert failed[0]["attempt"] == 1 and failed[0]["status_code"] == 410
    assert failed[0]["next_retry_at"] is None


def test_loopback_target_refused_unless_allowed(appliance: Appliance) -> None:
    _, token = appliance.new_user("policy@example.com")
    with appliance.client(token) as client:
        refused = client.put("/user/webhook", json={"webhook_url": "http://127.0.0.1:9/x"})
        assert refused.status_code == 422
        assert "loopback" in refused.json()["detail"]
        assert "VOMEET_WEBHOOK_ALLOW_INTERNAL_TARGETS" in refused.json()["detail"]
        lan = client.put("/user/webhook", json={"webhook_url": "http://192.168.10.20/hooks"})
        assert lan.status_code == 200, lan.text


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://localhost/x", True),
        ("http://127.0.0.1/x", True),
        ("http://[::1]/x", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://[fd00:ec2::254]/", True),
        ("http://0.0.0.0/", True),
        ("http://10.1.2.3/hook", False),
        ("https://192.168.1.5:8443/hook", False),
        ("http://172.16.0.9/hook", False),
    ],
)
def test_target_policy(url: str, refused: bool) -> None:
    if refused:
        with pytest.raises(TargetRefused):
            check_saved(url, allow_internal=False)
    else:
        check_saved(url, allow_internal=False)
    check_saved(url, allow_internal=True)  # an administrator may allow every target


@pytest.mark.parametrize("check", [check_saved, check_for_delivery])
def test_names_are_checked_after_resolution(check) -> None:
    # The machine's own name resolves to a loopback address on Debian (/etc/hosts), yet does
    # not look like one: only a check after resolution can catch it, when saved and at delivery.
    name = socket.gethostname()
    if not ipaddress.ip_address(socket.gethostbyname(name)).is_loopback:
        pytest.skip(f"{name} does not resolve to a loopback address on this machine")
    with pytest.raises(TargetRefused, match="loopback"):
        check(f"http://{name}:8080/x", allow_internal=False)


def test_signature_is_hmac_of_timestamp_and_body() -> None:
    body = b'{"a":1}'
    assert signature("s3cret", 1700000000, body) == "sha256=" + hmac.new(
        b"s3cret", b"1700000000." + body, hashlib.sha256
    ).hexdigest()
    assert event_id("meeting.completed", "7") == event_id("meeting.completed", "7")
    assert event_id("meeting.completed", "7") != event_id("meeting.completed", "8")

