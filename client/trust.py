"""The appliance's certificate pin.

mDNS is unauthenticated, so the client trusts what it can check: at first contact it fetches the
certificate the appliance serves, computes its fingerprint (lowercase hex SHA-256 of the DER
bytes, as `appliance.tls` does) and compares it with the `fp` the appliance announced; a person
then confirms the same fingerprint on the console (the pairing code covers it too). From then on
the pinned certificates are the only trust anchors of every connection (`pinned_context`), with
no hostname check: addresses change, the pin is the check. A rotation is learnt over the pinned
connection (`GET /tls` lists the current and the staged next certificate), so either is accepted.

API (what the windows call):
- `fetch_certificate(host, port)` -> PEM of the certificate served there, unchecked.
- `first_contact(host, port, announced)` -> PEM, after comparing with the announced fingerprint.
- `fingerprint_of(pem)`, `grouped(fingerprint)` (for display: `AB:CD:...`), `normalise(text)`.
- `pinned_context(pems)` -> the `ssl.SSLContext` every request and the WebSocket use.
- `pins_from_tls(answer)` -> the PEMs to keep after reading `GET /tls`.
- `certificate_changed(host)` -> the `ClientError` a refused handshake becomes.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Sequence
from typing import Any

from client.errors import ClientError, ErrorKind

FETCH_TIMEOUT_S = 5.0
CHANGED_MESSAGE = (
    "the appliance's certificate changed: confirm the new fingerprint on the console before trusting it"
)


def normalise(fingerprint: str) -> str:
    """A fingerprint as stored and compared: 64 lowercase hex digits, whatever grouping it came in."""
    return fingerprint.replace(":", "").replace(" ", "").strip().lower()


def fingerprint_of(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def grouped(fingerprint: str) -> str:
    """`AB:CD:EF:...`: the form the console and `vomeet doctor` show, for a person to compare."""
    plain = normalise(fingerprint).upper()
    return ":".join(plain[i : i + 2] for i in range(0, len(plain), 2))


def fetch_certificate(host: str, port: int, timeout_s: float = FETCH_TIMEOUT_S) -> str:
    """The certificate served at host:port, not verified (that is what the fingerprint is for)."""
    try:
        return ssl.get_server_certificate((host, port), timeout=timeout_s)
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(
            ErrorKind.UNREACHABLE,
            f"the appliance at {_where(host, port)} is unreachable over HTTPS ({exc.__class__.__name__}: {exc}); "
            "check that it is on and on this network",
        ) from exc


def first_contact(host: str, port: int, announced: str | None) -> str:
    """The certificate to pin: the one served, if it is the one announced by mDNS.

    `announced` is None for an address typed by hand: then the person must compare the
    fingerprint with the console's before pairing (the pairing code also covers it)."""
    pem = fetch_certificate(host, port)
    if announced is not None and fingerprint_of(pem) != normalise(announced):
        raise ClientError(
            ErrorKind.FINGERPRINT_MISMATCH,
            f"the certificate served at {_where(host, port)} ({grouped(fingerprint_of(pem))}) is not the one the "
            f"appliance announced ({grouped(announced)}): something else may be answering for it; "
            "do not pair, and check the fingerprint shown on the appliance's console",
        )
    return pem


def pinned_context(pems: Sequence[str]) -> ssl.SSLContext:
    """A client context whose only trust anchors are the pinned certificates.

    VERIFY_X509_PARTIAL_CHAIN lets a pinned leaf issued by a company CA verify on its own (the
    CA is not needed, or trusted); no hostname check, since the appliance's address may change."""
    if not pems:
        raise ValueError("no certificate pinned")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata="\n".join(pems))
    return context


def pins_from_tls(answer: dict[str, Any]) -> list[str]:
    """The certificates to pin after reading `GET /tls` over a pinned connection.

    The answer was read over a connection verified by the pins, so its `current` and `next`
    are trusted: keep both (a staged next certificate is accepted once it is switched to)."""
    try:
        current = str(answer["current"]["pem"])
        staged = answer.get("next")
        learnt = [current] + ([str(staged["pem"])] if staged else [])
        for pem in learnt:
            fingerprint_of(pem)  # a certificate that cannot be read is refused here, not at the next connect
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError(ErrorKind.PROTOCOL, f"the appliance's GET /tls answer cannot be read ({exc})") from exc
    return learnt


def certificate_changed(host: str, port: int) -> ClientError:
    return ClientError(ErrorKind.CERTIFICATE_CHANGED, f"{CHANGED_MESSAGE} (at {_where(host, port)})")


def is_verification_failure(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a certificate that failed the pin."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
