"""Pairing a client with a real appliance over TLS (docs/pairing.md): the client's code is the
console's, an approval hands over a working device token, and every refusal says what to do."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from appliance.db.models import PairingRequest
from appliance.devices.codes import pairing_code as console_code
from client.api import ApplianceClient
from client.errors import ClientError, ErrorKind
from client.pairing import Pairing
from client.store import ClientStore
from client.trust import fingerprint_of, first_contact, pinned_context
from tests.client.conftest import MakeBox, decide, remembered, unique
from tests.tls_helpers import TlsAppliance


def _pairing(box: TlsAppliance, store: ClientStore) -> tuple[Pairing, str]:
    # First contact as after discovery: the TXT fp is the certificate the box keeps on disk.
    pem = first_contact("127.0.0.1", box.https_port, fingerprint_of(box.certificate_pem()))
    pairing = Pairing(f"https://127.0.0.1:{box.https_port}", pinned_context([pem]), store.identity(),
                      "Alice's laptop", "0.1.0")
    return pairing, fingerprint_of(pem)


def _code_on_console(box: TlsAppliance, request_id: str) -> str:
    """The code the Devices page shows for the request, from the row the appliance stored."""
    engine = create_engine(f"sqlite:///{box.app.data_dir / 'vomeet.db'}")
    with Session(engine) as session:
        row = session.scalars(select(PairingRequest).where(PairingRequest.request_id == request_id)).one()
        raw = [base64.b64decode(v) for v in (row.public_key, row.client_nonce, row.server_nonce)]
        code = console_code(row.fingerprint, *raw)
    engine.dispose()
    return code


def test_pairing_end_to_end_gives_a_token_for_the_approving_user(make_box: MakeBox, tmp_path: Path) -> None:
    box = make_box()
    email = unique("alice") + "@example.com"
    box.app.new_user(email)
    store = ClientStore(tmp_path / "config", use_keyring=False)
    pairing, fingerprint = _pairing(box, store)

    request = pairing.start(fingerprint)
    assert len(request.code) == 6 and request.code.isdigit()
    assert request.code == _code_on_console(box, request.request_id)
    assert pairing.poll(request).state == "pending"

    decide(box, request.request_id, approve_for=email)
    token, user = pairing.wait(request, interval_s=0.2)
    assert user == email and token.startswith("vmt_")

    # The token is the user's: their (empty) meetings list, over the pinned connection.
    api = ApplianceClient(remembered(box), token)
    assert api.meetings() == []
    # Collected once: a later poll says so, and carries no token.
    with pytest.raises(ClientError) as again:
        pairing.poll(request)
    assert again.value.kind is ErrorKind.PAIRING_EXPIRED and "start pairing again" in str(again.value)
    api.close()
    pairing.close()


def test_a_code_that_does_not_match_is_rejected_on_the_console(make_box: MakeBox, tmp_path: Path) -> None:
    box = make_box()
    pairing, fingerprint = _pairing(box, ClientStore(tmp_path / "config", use_keyring=False))
    # A man in the middle presents another certificate: the client's code is over the fingerprint
    # it saw, so the two screens differ and the person rejects the request.
    request = pairing.start("0" * 64)
    assert request.code != _code_on_console(box, request.request_id)
    decide(box, request.request_id, approve_for=None)
    with pytest.raises(ClientError) as rejected:
        pairing.wait(request, interval_s=0.2)
    assert rejected.value.kind is ErrorKind.PAIRING_REJECTED
    assert "same code" in str(rejected.value) and "start pairing again" in str(rejected.value)
    assert fingerprint != "0" * 64
    pairing.close()


def test_an_expired_request_says_to_start_again(make_box: MakeBox, tmp_path: Path) -> None:
    box = make_box(pairing_expiry_s="2")
    pairing, fingerprint = _pairing(box, ClientStore(tmp_path / "config", use_keyring=False))
    request = pairing.start(fingerprint)
    with pytest.raises(ClientError) as expired:
        pairing.wait(request, interval_s=0.5)  # nobody approves: the appliance ends it after 2 s
    assert expired.value.kind is ErrorKind.PAIRING_EXPIRED
    assert "expired" in str(expired.value) and "start pairing again" in str(expired.value)
    pairing.close()


def test_a_revoked_device_is_told_to_pair_again(make_box: MakeBox, tmp_path: Path) -> None:
    box = make_box()
    email = unique("bob") + "@example.com"
    box.app.new_user(email)
    pairing, fingerprint = _pairing(box, ClientStore(tmp_path / "config", use_keyring=False))
    request = pairing.start(fingerprint)
    decide(box, request.request_id, approve_for=email)
    token, _ = pairing.wait(request, interval_s=0.2)
    api = ApplianceClient(remembered(box), token)
    assert api.meetings() == []

    with box.pinned(headers={"X-API-Key": token}) as owner:
        devices = owner.get("/devices").json()["devices"]
        assert [d["name"] for d in devices] == ["Alice's laptop"]
        assert owner.delete(f"/devices/{devices[0]['id']}").status_code == 204

    with pytest.raises(ClientError) as revoked:
        api.meetings()
    assert revoked.value.kind is ErrorKind.REVOKED and revoked.value.status == 401
    assert "revoked" in str(revoked.value) and "pair it again" in str(revoked.value)
    api.close()
    pairing.close()


def test_pairing_is_refused_over_a_certificate_that_is_not_pinned(make_box: MakeBox, tmp_path: Path) -> None:
    box, other = make_box(), make_box()
    # A client that pinned `other`'s certificate reaches `box`: the handshake fails the pin.
    pairing = Pairing(f"https://127.0.0.1:{box.https_port}", pinned_context([other.certificate_pem()]),
                      ClientStore(tmp_path / "config", use_keyring=False).identity(), "laptop", "0.1.0")
    with pytest.raises(ClientError) as refused:
        pairing.start(fingerprint_of(other.certificate_pem()))
    assert refused.value.kind is ErrorKind.CERTIFICATE_CHANGED
    assert "confirm the new fingerprint on the console" in str(refused.value)
    assert httpx.get(f"{box.app.base_url}/healthz").status_code == 200
    pairing.close()
