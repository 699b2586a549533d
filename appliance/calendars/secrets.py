"""Connection secrets at rest: Fernet with a key file (mode 0600) in the data directory.

Feed URLs, CalDAV passwords, OAuth refresh tokens and service-account keys are stored only as
the token `seal` returns; the key is made at first use and never leaves the box. A backup of the
database alone therefore holds no usable secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE_NAME = "calendar-secrets.key"


class SecretError(Exception):
    """The stored secret cannot be opened (the key file was replaced or the row was altered)."""


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE_NAME


def load_key(data_dir: Path) -> bytes:
    """The box's key, made (0600, created exclusively so two processes agree) on first use."""
    path = key_path(data_dir)
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(load_key(data_dir))

    def seal(self, secret: Mapping[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(dict(secret), sort_keys=True).encode())

    def open(self, token: bytes) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretError(
                "a calendar secret cannot be decrypted with this box's key; reconnect the calendar"
            ) from None
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise SecretError("a calendar secret is not a mapping")
        return {str(k): str(v) for k, v in value.items()}
