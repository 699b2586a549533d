"""The box's own certificate on disk: made once, private, for the names it is reached by, and a
staged rotation that becomes current in one step (appliance/tls, real files and cryptography)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.config import load_settings
from appliance.netinfo import lan_ipv4_addresses
from appliance.tls import TlsError, TlsStore, current_certificate_pem, current_fingerprint, grouped
from appliance.tls.making import make_self_signed
from appliance.tls.serving import ServedCertificate


def test_first_use_makes_a_private_p256_key_and_a_certificate_for_the_boxs_names(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, host="0.0.0.0")
    fingerprint = current_fingerprint(settings)
    folder = tmp_path / "tls"
    assert folder.stat().st_mode & 0o777 == 0o700
    key_file, cert_file = folder / "current" / "key.pem", folder / "current" / "cert.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (key_file.resolve().parent.stat().st_mode & 0o777) == 0o700

    pem = cert_file.read_text("ascii")
    assert current_certificate_pem(settings) == pem
    assert fingerprint == hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    assert len(fingerprint) == 64 and fingerprint == fingerprint.lower()
    cert = x509.load_pem_x509_certificate(pem.encode())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    host = socket.gethostname().split(".")[0]
    assert set(names.get_values_for_type(x509.DNSName)) == {f"{host}.local", host, "localhost"}
    addresses = {str(a) for a in names.get_values_for_type(x509.IPAddress)}
    assert addresses == {"127.0.0.1", "::1", *lan_ipv4_addresses()}
    assert all(ipaddress.ip_address(a) for a in addresses)
    # Made once: a second use, and a restart, serve the same certificate.
    assert current_fingerprint(load_settings(data_dir=tmp_path, host="0.0.0.0")) == fingerprint
    assert grouped(fingerprint).count(":") == 31 and grouped(fingerprint)[:2] == fingerprint[:2].upper()


def test_tls_off_has_no_fingerprint_and_auto_follows_the_bind_address(tmp_path: Path) -> None:
    assert current_fingerprint(load_settings(data_dir=tmp_path, host="127.0.0.1")) is None
    assert current_fingerprint(load_settings(data_dir=tmp_path, host="0.0.0.0", tls="off")) is None
    assert not (tmp_path / "tls").exists()
    assert load_settings(host="127.0.0.1", tls="on").tls_enabled
    lan = load_settings(host="0.0.0.0", loopback_port=9111)
    assert lan.tls_enabled and lan.loopback_url == "http://127.0.0.1:9111"
    assert load_settings(host="127.0.0.1", port=9000).loopback_url == "http://127.0.0.1:9000"


def test_a_staged_certificate_becomes_current_in_one_step_and_the_old_key_goes(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, host="0.0.0.0")
    store = TlsStore(settings)
    first, made = store.ensure()
    assert made and store.staged() is None
    old_generation = (tmp_path / "tls" / "current").resolve()
    staged = store.stage()
    assert staged.fingerprint != first.fingerprint
    assert store.current().fingerprint == first.fingerprint  # staging changes nothing served
    assert current_fingerprint(settings) == first.fingerprint
    store.activate()
    assert current_fingerprint(settings) == staged.fingerprint
    assert store.staged() is None
    assert not old_generation.exists()
    with pytest.raises(TlsError, match="vomeet tls rotate"):
        store.activate()


def test_installing_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    store = TlsStore(load_settings(data_dir=tmp_path, host="0.0.0.0"))
    one, other = make_self_signed(["a.local"], []), make_self_signed(["b.local"], [])
    with pytest.raises(TlsError, match="does not belong to the certificate"):
        store.install(one.cert_pem, other.key_pem, as_next=False)
    with pytest.raises(TlsError, match="not an unencrypted PEM private key"):
        store.install(one.cert_pem, b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", as_next=False)
    installed = store.install(one.cert_pem, one.key_pem, as_next=False)
    assert store.current().fingerprint == installed.fingerprint


def test_a_staged_certificate_falls_due_by_itself_and_not_before(tmp_path: Path) -> None:
    store = TlsStore(load_settings(data_dir=tmp_path, host="0.0.0.0"))
    first, _ = store.ensure()
    now = dt.datetime.now(dt.UTC)
    staged = store.stage(due=now + dt.timedelta(days=7))
    assert store.staged() == staged and staged.due is not None
    assert store.activate_if_due(now) is None and store.current().fingerprint == first.fingerprint
    assert store.activate_if_due(now + dt.timedelta(days=8)) is not None
    assert store.current().fingerprint == staged.fingerprint and store.staged() is None


def test_the_served_context_takes_a_new_certificate_in_place_and_keeps_the_old_one_on_a_broken_file(
    tmp_path: Path,
) -> None:
    served = ServedCertificate(load_settings(data_dir=tmp_path, host="0.0.0.0"))
    assert served.refresh() is False  # nothing changed
    staged = served.store.stage()
    served.store.activate()
    assert served.refresh() is True
    assert _handshake_fingerprint(served.context) == staged.fingerprint
    # A certificate that is not the key's, written over the served one: logged, previous kept.
    (tmp_path / "tls" / "current" / "cert.pem").write_bytes(make_self_signed(["x.local"], []).cert_pem)
    assert served.refresh() is False
    assert _handshake_fingerprint(served.context) == staged.fingerprint


def _handshake_fingerprint(server_context: ssl.SSLContext) -> str:
    """The certificate a TLS handshake with this server context presents (in memory, no socket)."""
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname, client_context.verify_mode = False, ssl.CERT_NONE  # reads, trusts nothing
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(outgoing.read())
        incoming.write(server_out.read())
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another user")
def test_run_as_root_the_files_go_to_the_data_directorys_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, 4242, 4242)  # the service user, as install.sh leaves /var/lib/vomeet
    store = TlsStore(load_settings(data_dir=data_dir, host="0.0.0.0"))
    store.ensure()
    store.stage()
    tls = data_dir / "tls"
    written = [tls, tls / "current", tls / "next", *(p for d in tls.iterdir() if d.is_dir() for p in [d, *d.iterdir()])]
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in written} == {(4242, 4242)}
