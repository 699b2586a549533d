"""`vomeet serve` with TLS on (the real server on loopback, real certificates, real clients):
the LAN port speaks HTTPS only and presents the certificate the box keeps and publishes; clients
that pin it get through, others are refused; plain HTTP is served on loopback only; the console's
cookies are Secure over HTTPS; rotation and a company CA's certificate reach a running server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.sync.client import connect

from appliance.netinfo import lan_ipv4_addresses
from appliance.tls import fingerprint_of_pem, grouped
from appliance.tls.making import make_self_signed
from tests.conftest import REPO, appliance_env, free_port, wait_until
from tests.tls_helpers import TlsAppliance, pinned_client, pinned_context, served_pem, start_tls_appliance

PASSWORD = re.compile(r"user admin, password (\S+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsAppliance]:
    started = start_tls_appliance(tmp_path_factory.mktemp("tls") / "data")
    yield started
    started.app.stop()


def vomeet(box: TlsAppliance, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that rich prints each row of a table on one line.
    return subprocess.run([sys.executable, "-m", "appliance", *args], cwd=REPO, env={**box.app.env, "COLUMNS": "400"},
                          capture_output=True, text=True, timeout=120, check=False)


def refused(client: httpx.Client) -> str:
    with pytest.raises(httpx.ConnectError) as failure:
        client.get("/healthz")
    return str(failure.value)


def test_the_certificate_on_the_wire_is_the_one_the_box_keeps_shows_and_publishes(box: TlsAppliance) -> None:
    on_disk = box.certificate_pem()
    fingerprint = fingerprint_of_pem(on_disk)
    wire = served_pem(box.https_port)
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(wire)).hexdigest() == fingerprint
    with box.pinned() as client:
        published = client.get("/tls").json()
    assert published["current"]["fingerprint"] == fingerprint and published["next"] is None
    assert fingerprint_of_pem(published["current"]["pem"]) == fingerprint
    log = box.app.log_path.read_text()
    assert f"Certificate fingerprint (SHA-256): {grouped(fingerprint)}" in log
    assert "made now" in log
    assert "PRIVATE KEY" not in log
    shown = vomeet(box, "tls", "show")
    assert shown.returncode == 0, shown.stderr
    assert grouped(fingerprint) in shown.stdout and on_disk.strip() in shown.stdout
    assert "PRIVATE KEY" not in shown.stdout + shown.stderr
    doctor = vomeet(box, "doctor")
    assert re.search(rf"tls\s.*ok.*{re.escape(grouped(fingerprint)[:20])}", doctor.stdout), doctor.stdout
    assert re.search(r"api port\s.*ok.*answers", doctor.stdout), doctor.stdout


def test_a_client_pinning_the_certificate_gets_through_and_others_are_refused(box: TlsAppliance) -> None:
    _, token = box.app.new_user("pinned@example.com")
    with box.pinned(headers={"X-API-Key": token}) as client:
        assert client.get("/meetings").status_code == 200
    stranger = make_self_signed(["stranger.local"], ["127.0.0.1"]).cert_pem.decode()
    assert "CERTIFICATE_VERIFY_FAILED" in refused(pinned_client(box.https_url, stranger))
    # Nor does the system's trust store vouch for it: only a pin does.
    assert "CERTIFICATE_VERIFY_FAILED" in refused(httpx.Client(base_url=box.https_url))


def test_the_websocket_speaks_tls_to_a_pinned_client(box: TlsAppliance) -> None:
    _, token = box.app.new_user("socket@example.com")
    context = pinned_context(box.certificate_pem())
    with connect(f"wss://127.0.0.1:{box.https_port}/ws?api_key={token}", ssl=context, open_timeout=30) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong"


def test_plain_http_is_refused_on_the_lan_port_and_served_on_loopback_only(box: TlsAppliance) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{box.https_port}/healthz", timeout=10)
    assert httpx.get(f"{box.app.base_url}/healthz", timeout=10).status_code == 200
    for address in lan_ipv4_addresses():  # the plain listener is not on the box's LAN addresses
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, box.app.port)) != 0, f"plain HTTP answers on {address}"


def _csrf(page: httpx.Response) -> str:
    token = CSRF.search(page.text)
    assert token, f"no CSRF token on {page.url}"
    return token.group(1)


def _console_cookies(client: httpx.Client, password: str) -> tuple[list[str], httpx.Response]:
    """Every cookie the console sets or clears through sign-in, a page and sign-out."""
    signin_page = client.get("/ui/signin")
    signed_in = client.post("/ui/signin", data={"csrf_token": _csrf(signin_page), "kind": "admin",
                                                "username": "admin", "password": password})
    assert signed_in.status_code == 303, signed_in.text
    system = client.get("/ui/admin/system")
    assert system.status_code == 200
    signed_out = client.post("/ui/signout", data={"csrf_token": _csrf(system)})
    assert signed_out.status_code == 303, signed_out.text
    cookies = [c for answer in (signin_page, signed_in, signed_out) for c in answer.headers.get_list("set-cookie")]
    assert {c.split("=")[0] for c in cookies} == {"vomeet_console", "vomeet_signin_csrf"}, cookies
    return cookies, system


def test_console_cookies_are_secure_over_https_and_the_system_page_shows_the_fingerprint(box: TlsAppliance) -> None:
    printed = PASSWORD.search(box.app.log_path.read_text())
    assert printed, "serve printed no console password"
    with box.pinned() as client:
        cookies, system = _console_cookies(client, printed.group(1))
    assert all("; secure" in c.lower() for c in cookies), cookies
    assert grouped(fingerprint_of_pem(box.certificate_pem())) in system.text
    with httpx.Client(base_url=box.app.base_url, timeout=30) as plain:  # loopback: a plain browser
        cookies, _ = _console_cookies(plain, printed.group(1))
    assert not any("; secure" in c.lower() for c in cookies), cookies


def test_rotation_reaches_the_running_server_and_a_client_that_learnt_next_keeps_working(tmp_path: Path) -> None:
    box = start_tls_appliance(tmp_path / "data")
    try:
        old = box.certificate_pem()
        staged = vomeet(box, "tls", "rotate")
        assert staged.returncode == 0, staged.stderr
        with box.pinned(old) as trusted:  # the client reads GET /tls over its pinned connection
            published = trusted.get("/tls").json()
        assert published["current"]["fingerprint"] == fingerprint_of_pem(old)
        learnt = published["next"]["pem"]
        assert published["next"]["fingerprint"] == fingerprint_of_pem(learnt) != fingerprint_of_pem(old)
        assert fingerprint_of_pem(served_pem(box.https_port)) == fingerprint_of_pem(old)  # not yet

        activated = vomeet(box, "tls", "rotate", "--activate")
        assert activated.returncode == 0, activated.stderr
        wait_until(lambda: fingerprint_of_pem(served_pem(box.https_port)) == fingerprint_of_pem(learnt),
                   15, 0.2, "the running server to serve the activated certificate")
        with box.pinned(old, learnt) as client:
            now = client.get("/tls").json()
        assert now["current"]["fingerprint"] == fingerprint_of_pem(learnt) and now["next"] is None
        assert "CERTIFICATE_VERIFY_FAILED" in refused(pinned_client(box.https_url, old))

        # A company certificate installed with `vomeet tls install` is served the same way.
        ca = ThrowawayCa()
        leaf_pem, key_pem = ca.issue(tmp_path)
        installed = vomeet(box, "tls", "install", "--cert", str(leaf_pem), "--key", str(key_pem))
        assert installed.returncode == 0, installed.stderr
        leaf = x509.load_pem_x509_certificates(leaf_pem.read_bytes())[0].public_bytes(serialization.Encoding.PEM)
        wait_until(lambda: fingerprint_of_pem(served_pem(box.https_port)) == fingerprint_of_pem(leaf.decode()),
                   15, 0.2, "the running server to serve the installed certificate")
        assert "PRIVATE KEY" not in box.app.log_path.read_text()
    finally:
        box.app.stop()


class ThrowawayCa:
    """A certificate authority made for one test, as a company's would issue the box's leaf."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Company Root CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, folder: Path) -> tuple[Path, Path]:
        """A leaf for the box (chain file: leaf then CA) and its key, as the company would hand them over."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vomeet.corp.example")]))
            .issuer_name(self.name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("vomeet.corp.example")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        chain, key_file = folder / "company-chain.pem", folder / "company.key"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + self.pem.encode())
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        return chain, key_file


def test_an_operators_ca_signed_certificate_is_served_and_its_leaf_pin_works(tmp_path: Path) -> None:
    ca = ThrowawayCa()
    chain, key = ca.issue(tmp_path)
    box = start_tls_appliance(tmp_path / "data", tls_cert_file=str(chain), tls_key_file=str(key))
    try:
        leaf = x509.load_pem_x509_certificates(chain.read_bytes())[0].public_bytes(serialization.Encoding.PEM).decode()
        assert fingerprint_of_pem(served_pem(box.https_port)) == fingerprint_of_pem(leaf)
        with pinned_client(box.https_url, leaf) as client:  # the leaf alone is the trust anchor
            assert client.get("/tls").json()["current"]["fingerprint"] == fingerprint_of_pem(leaf)
        with pinned_client(box.https_url, ca.pem) as client:  # and the company's CA vouches for it too
            assert client.get("/healthz").status_code == 200
        other = make_self_signed(["other.local"], []).cert_pem.decode()
        assert "CERTIFICATE_VERIFY_FAILED" in refused(pinned_client(box.https_url, other))
        rotate = vomeet(box, "tls", "rotate")
        assert rotate.returncode == 1 and "replace that file" in rotate.stderr
    finally:
        box.app.stop()


def test_a_graceful_stop_closes_both_listeners_and_exits_cleanly(tmp_path: Path) -> None:
    box = start_tls_appliance(tmp_path / "data")
    assert box.app.stop() == 0
    for port in (box.https_port, box.app.port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listens"
    log = box.app.log_path.read_text()
    assert "Traceback" not in log and "loopback listener failed" not in log


def test_an_idle_kept_alive_https_connection_does_not_hold_up_the_stop(tmp_path: Path) -> None:
    """A desktop client keeps its HTTPS connection open between requests. Told to close, asyncio
    waits up to 30 s (its ssl_shutdown_timeout) for the peer's TLS goodbye, which an idle client
    never sends: systemd's stop would wait with it. 15 s is half that wait, far above a stop's
    own second or two."""
    box = start_tls_appliance(tmp_path / "data")
    _, key = box.app.new_user("idle@example.com")
    with box.pinned(headers={"X-API-Key": key}) as client:
        assert client.get("/meetings").status_code == 200  # the connection stays open, idle
        assert box.app.process is not None
        box.app.process.send_signal(signal.SIGTERM)
        assert box.app.process.wait(timeout=15) == 0


def test_serve_refuses_an_operators_certificate_that_is_missing_or_not_the_keys(tmp_path: Path) -> None:
    one, other = make_self_signed(["one.local"], []), make_self_signed(["other.local"], [])
    (tmp_path / "cert.pem").write_bytes(one.cert_pem)
    (tmp_path / "key.pem").write_bytes(other.key_pem)
    for cert, expected in ((tmp_path / "missing.pem", "cannot read the certificate"),
                           (tmp_path / "cert.pem", "the key does not belong to the certificate")):
        env = appliance_env(tmp_path / "data", free_port(), tls="on", loopback_port=str(free_port()),
                            tls_cert_file=str(cert), tls_key_file=str(tmp_path / "key.pem"))
        serve = subprocess.run([sys.executable, "-m", "appliance", "serve"], cwd=REPO, env={**env, "COLUMNS": "400"},
                               capture_output=True, text=True, timeout=120, check=False)
        assert serve.returncode == 2, serve.stderr[-2000:]
        assert expected in serve.stderr and "Traceback" not in serve.stderr
