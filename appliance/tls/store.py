"""The box's certificates on disk: the one it serves, and the next one staged for a rotation.

Layout under `<data_dir>/tls/` (0700): one directory per certificate (`key.pem` 0600,
`cert.pem` 0644), and two links, `current` and `next`, naming one of them each. Activating a
rotation re-points `current` in one rename, so the server never reads a key and a certificate
from two different generations. An operator's files (`VOMEET_TLS_CERT_FILE`/`_KEY_FILE`) replace
the store altogether; they are theirs to renew.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.config import Settings
from appliance.tls.files import give_to_owner_of, locked, point_link, private_dir, write_atomically
from appliance.tls.fingerprint import fingerprint_of_der
from appliance.tls.making import KeyAndCertificate, box_names, make_self_signed

CERT_NAME, KEY_NAME, DUE_NAME = "cert.pem", "key.pem", "due"


class TlsError(Exception):
    """A certificate or key is missing, unreadable or does not fit; the message says what to do."""


@dataclass(frozen=True)
class CertificateInfo:
    fingerprint: str
    pem: str  # the leaf only, whatever chain the file carries
    not_after: dt.datetime
    subject: str
    names: list[str]
    due: dt.datetime | None = None  # for a staged certificate: when it becomes current by itself

    def as_json(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "pem": self.pem, "not_after": self.not_after.isoformat()}


def describe(cert_pem: bytes, due: dt.datetime | None = None) -> CertificateInfo:
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as exc:
        raise TlsError(f"not a PEM certificate ({exc})") from exc
    der = leaf.public_bytes(serialization.Encoding.DER)
    try:
        alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name.value) for name in alt]
    except x509.ExtensionNotFound:
        names = []
    return CertificateInfo(
        fingerprint=fingerprint_of_der(der),
        pem=leaf.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        not_after=leaf.not_valid_after_utc,
        subject=leaf.subject.rfc4514_string(),
        names=names,
        due=due,
    )


def check_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """Refuse a key that is not the certificate's (or is encrypted, which a service cannot unlock)."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsError(f"the key file is not an unencrypted PEM private key ({exc})") from exc
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as exc:
        raise TlsError(f"the certificate file is not PEM ({exc})") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise TlsError("the key does not belong to the certificate (the first certificate in the file)")


class TlsStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "tls"

    @property
    def operator_files(self) -> bool:
        return self.settings.tls_cert_file is not None

    def serving_paths(self) -> tuple[Path, Path]:
        """The certificate (chain) and key files the server loads."""
        if self.settings.tls_cert_file is not None and self.settings.tls_key_file is not None:
            return self.settings.tls_cert_file, self.settings.tls_key_file
        return self.root / "current" / CERT_NAME, self.root / "current" / KEY_NAME

    def ensure(self) -> tuple[CertificateInfo, bool]:
        """The certificate served, made at first use; True when it was made just now."""
        if self.operator_files:
            return self.current(), False
        private_dir(self.root)
        with locked(self.root):
            if (self.root / "current").exists():
                return self.current(), False
            made = make_self_signed(*box_names())
            self._point("current", self._write_generation(made))
        return self.current(), True

    def current(self) -> CertificateInfo:
        cert_path, _ = self.serving_paths()
        try:
            return describe(cert_path.read_bytes())
        except OSError as exc:
            raise TlsError(
                f"cannot read the certificate {cert_path} ({exc.strerror}). Fix: check the file "
                "and its permissions, or unset VOMEET_TLS_CERT_FILE to use the box's own."
            ) from exc

    def staged(self) -> CertificateInfo | None:
        folder = self.root / "next"
        if self.operator_files or not folder.exists():
            return None
        due_file = folder / DUE_NAME
        due = dt.datetime.fromisoformat(due_file.read_text("ascii").strip()) if due_file.exists() else None
        return describe((folder / CERT_NAME).read_bytes(), due)

    def stage(self, made: KeyAndCertificate | None = None, due: dt.datetime | None = None) -> CertificateInfo:
        """Stage the next certificate (a new self-signed one unless given); it is published by
        `GET /tls` at once and becomes current on `activate`, or by itself once `due`."""
        self._refuse_operator_files()
        self.ensure()
        with locked(self.root):
            generation = self._write_generation(made or make_self_signed(*box_names()), due)
            self._point("next", generation)
        staged = self.staged()
        assert staged is not None
        return staged

    def install(
        self, cert_pem: bytes, key_pem: bytes, as_next: bool, due: dt.datetime | None = None
    ) -> CertificateInfo:
        """An operator's certificate (e.g. from the company CA): current now, or staged next."""
        check_pair(cert_pem, key_pem)
        made = KeyAndCertificate(key_pem=key_pem, cert_pem=cert_pem)
        if as_next:
            return self.stage(made, due)
        self._refuse_operator_files()
        private_dir(self.root)
        with locked(self.root):
            self._point("current", self._write_generation(made))
            self._drop_unused()
        return self.current()

    def activate(self) -> CertificateInfo:
        """Make the staged certificate current (the running server picks it up within seconds)."""
        self._refuse_operator_files()
        with locked(self.root):
            folder = self.root / "next"
            if not folder.exists():
                raise TlsError("no certificate is staged. Fix: run `vomeet tls rotate` first.")
            target = str(folder.readlink())
            (self.root / target / DUE_NAME).unlink(missing_ok=True)
            self._point("current", target)
            folder.unlink()
            self._drop_unused()
        return self.current()

    def activate_if_due(self, now: dt.datetime | None = None) -> CertificateInfo | None:
        staged = self.staged()
        if staged is None or staged.due is None or staged.due > (now or dt.datetime.now(dt.UTC)):
            return None
        return self.activate()

    def _refuse_operator_files(self) -> None:
        if self.operator_files:
            raise TlsError(
                f"the served certificate is the operator's ({self.settings.tls_cert_file}): "
                "replace that file (and its key) to renew it, or unset VOMEET_TLS_CERT_FILE and "
                "VOMEET_TLS_KEY_FILE to let the box manage its own."
            )

    def _write_generation(self, made: KeyAndCertificate, due: dt.datetime | None = None) -> str:
        info = describe(made.cert_pem)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{info.fingerprint[:12]}"
        folder = self.root / name
        private_dir(folder)
        write_atomically(folder / KEY_NAME, made.key_pem, 0o600)
        write_atomically(folder / CERT_NAME, made.cert_pem, 0o644)
        if due is not None:
            write_atomically(folder / DUE_NAME, due.isoformat().encode("ascii"), 0o644)
        give_to_owner_of([self.root, self.root / ".lock", folder, *folder.iterdir()], self.settings.data_dir)
        return name

    def _point(self, link: str, generation: str) -> None:
        point_link(self.root / link, generation)
        give_to_owner_of([self.root / link], self.settings.data_dir)

    def _drop_unused(self) -> None:
        """Remove generations neither link names (a replaced certificate's key is not kept)."""
        used = {str((self.root / link).readlink()) for link in ("current", "next") if (self.root / link).is_symlink()}
        for entry in self.root.iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name not in used:
                shutil.rmtree(entry)
