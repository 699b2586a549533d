"""Google Calendar sign-in from the desktop client (client/google_signin.py) against a real
`vomeet serve` with TLS on, its Google endpoints pointed at the test double, over the pinned
connection with a paired device's token. The test plays the person's browser: it fetches the
authorisation URL the client opens and follows Google's redirect to the client's loopback server."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from client.api import ApplianceClient
from client.errors import ClientError
from client.google_signin import sign_in_with_google
from client.pairing import Pairing
from client.store import ClientStore
from client.trust import fingerprint_of, first_contact, pinned_context
from tests.calendars.providers.google_double import GoogleDouble
from tests.client.conftest import Browser, decide, event_on_google, remembered, unique
from tests.tls_helpers import TlsAppliance


def paired_client(box: TlsAppliance, email: str, config: Path) -> ApplianceClient:
    """A device paired for `email` and approved on the console, as the client's windows get one."""
    box.app.new_user(email)
    pem = first_contact("127.0.0.1", box.https_port, fingerprint_of(box.certificate_pem()))
    pairing = Pairing(box.https_url, pinned_context([pem]), ClientStore(config, use_keyring=False).identity(),
                      "Alice's laptop", "0.1.0")
    request = pairing.start(fingerprint_of(pem))
    decide(box, request.request_id, approve_for=email)
    token, _ = pairing.wait(request, interval_s=0.2)
    return ApplianceClient(remembered(box), token)


def test_signing_in_with_google_connects_the_users_calendar(google_box: TlsAppliance, google: GoogleDouble,
                                                             tmp_path: Path) -> None:
    email = unique("alice") + "@example.com"
    google.consenting_user = email
    event_on_google(google, email, "planning", days=1)
    api = paired_client(google_box, email, tmp_path / "config")
    browser = Browser()

    connection = sign_in_with_google(api, open_browser=browser, timeout_s=30)

    assert (connection["kind"], connection["upcoming_events"]) == ("google", 1)
    asked = parse_qs(urlsplit(browser.opened[0]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert browser.pages[0].status_code == 200 and "You can close this tab" in browser.pages[0].text
    listed = api.calendars()
    assert [(c["kind"], c["name"], c["last_error"]) for c in listed] == [("google", "Google Calendar", None)]
    assert listed[0]["last_sync_at"] is not None
    # The box exchanged the code with the client's verifier (the double checked the challenge).
    exchange = next(r for r in google.token_requests if r["grant_type"] == "authorization_code")
    assert exchange["redirect_uri"] == asked["redirect_uri"][0] and len(exchange["code_verifier"]) >= 43
    api.close()


def test_a_wrong_state_a_denial_and_no_answer_are_refused(google_box: TlsAppliance, google: GoogleDouble,
                                                          tmp_path: Path) -> None:
    email = unique("bob") + "@example.com"
    google.consenting_user = email
    _, token = google_box.app.new_user(email)
    api = ApplianceClient(remembered(google_box), token)

    forged = Browser(tamper=lambda q: q | {"state": "someone-elses-state"})
    with pytest.raises(ClientError) as wrong_state:
        sign_in_with_google(api, open_browser=forged, timeout_s=30)
    assert "state" in str(wrong_state.value) and forged.pages[0].status_code == 400

    google.denies = True
    denied = Browser()
    with pytest.raises(ClientError) as declined:
        sign_in_with_google(api, open_browser=denied, timeout_s=30)
    assert "declined access" in str(declined.value) and "You can close this tab" in denied.pages[0].text

    with pytest.raises(ClientError) as silent:  # the person never finishes in the browser
        sign_in_with_google(api, open_browser=lambda url: True, timeout_s=1)
    assert "no answer within 1 s" in str(silent.value)

    assert api.calendars() == []
    assert not [r for r in google.token_requests if r["grant_type"] == "authorization_code"]
    api.close()
