"""The one error the client's core raises: a message a person can act on.

Every failure H5's windows show (unreachable appliance, revoked device, changed certificate, a
refused request) is a `ClientError` whose `str()` says what happened and what to do; `kind` lets
a window react (offer "pair again", "confirm the new fingerprint") without parsing the text.
"""

from __future__ import annotations

from enum import Enum


class ErrorKind(Enum):
    UNREACHABLE = "unreachable"  # no connection to any address known for the appliance
    CERTIFICATE_CHANGED = "certificate_changed"  # the TLS certificate is not the pinned one
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"  # first contact: certificate is not the announced `fp`
    REVOKED = "revoked"  # the device token was refused: pair again
    NOT_PAIRED = "not_paired"  # no device token stored for this appliance
    PAIRING_EXPIRED = "pairing_expired"  # the pairing request timed out: start again
    PAIRING_REJECTED = "pairing_rejected"  # a console user rejected it (a wrong code)
    REFUSED = "refused"  # the appliance answered with an error (4xx/5xx): `status` and its detail
    PROTOCOL = "protocol"  # an answer the client cannot read


class ClientError(Exception):
    """A failure with a message for people; `status` is the HTTP status when there was one."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message
