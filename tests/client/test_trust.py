"""The pin against a real appliance's certificate: a changed certificate is refused with the
message that says what to do, and a rotation learnt over the pinned connection is not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from client.api import ApplianceClient
from client.errors import ClientError, ErrorKind
from client.live import LiveFeed, LiveTranscript
from client.trust import CHANGED_MESSAGE, fetch_certificate, fingerprint_of, grouped, pinned_context
from tests.client.conftest import MakeBox, remembered, unique
from tests.conftest import REPO, wait_until
from tests.tls_helpers import TlsAppliance


def _tls(box: TlsAppliance, *arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "appliance", "tls", *arguments], cwd=REPO, env=box.app.env,
                   check=True, capture_output=True, timeout=60)


def test_a_changed_certificate_is_refused_and_a_learnt_rotation_is_followed(make_box: MakeBox) -> None:
    box = make_box()
    _, token = box.app.new_user(unique("carol") + "@example.com")
    first = remembered(box)
    learner = ApplianceClient(first, token)  # reads GET /tls before the switch
    stale = ApplianceClient(first, token)  # never does
    assert learner.learn_rotation() == list(first.pins)  # nothing staged yet: one pin

    _tls(box, "rotate")
    pins = learner.learn_rotation()
    assert pins[0] == first.pins[0] and len(pins) == 2
    assert learner.appliance.pins == tuple(pins)

    _tls(box, "rotate", "--activate")
    wait_until(lambda: fetch_certificate("127.0.0.1", box.https_port) != first.pins[0], 30,
               what="the appliance to serve the next certificate")
    assert fingerprint_of(fetch_certificate("127.0.0.1", box.https_port)) == fingerprint_of(pins[1])

    assert learner.meetings() == []  # the next pin was learnt: it goes on working
    assert learner.learn_rotation() == [pins[1]]  # and the old one is dropped once it is gone
    with pytest.raises(ClientError) as refused:
        stale.meetings()
    assert refused.value.kind is ErrorKind.CERTIFICATE_CHANGED
    assert str(refused.value).startswith(CHANGED_MESSAGE)

    # The live feed gives up the same way, instead of retrying for ever.
    states: list[tuple[str, str]] = []
    feed = LiveFeed(stale.ws_url, token, pinned_context(first.pins), 1, LiveTranscript(),
                    on_connection=lambda state, detail: states.append((state, detail)))
    feed.start()
    wait_until(lambda: ("stopped", CHANGED_MESSAGE) in states, 30, what="the feed to refuse the certificate")
    feed.stop()
    learner.close()
    stale.close()


def test_fingerprints_are_shown_grouped_in_upper_case() -> None:
    assert grouped("ab" * 32) == ":".join(["AB"] * 32)
    assert grouped("AB:" * 31 + "AB") == ":".join(["AB"] * 32)
