"""What the client remembers: paired appliances, the device's identity and its secrets.

Settings live in `$XDG_CONFIG_HOME/vomeet-client/` (`~/.config/vomeet-client/` without it):
`appliances.json` (id, name, last addresses, port, pinned certificates, the user it is paired as;
nothing secret) written atomically, and `device.json` (the device id). Secrets (each appliance's
device token, the device's private key) go to the system keyring when a usable backend exists,
else to `secrets.json` beside the settings, readable by the user alone (0600). `secret_storage`
says which, in words the window shows ("the system keyring (SecretService Keyring)", "a file
only you can read: ~/.config/vomeet-client/secrets.json").

API: `ClientStore(config_dir=None, use_keyring=None)`; `appliances()`, `get(id)`, `remember(a)`,
`forget(id)`; `token(id)`, `set_token(id, token)`; `identity()` (made once, then kept);
`secret_storage`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keyring
import keyring.errors

from client.identity import DeviceIdentity

KEYRING_SERVICE = "vomeet-client"
KEY_ENTRY = "device-key"


@dataclass(frozen=True)
class RememberedAppliance:
    """A paired appliance: where it was last seen and the certificates pinned for it."""

    id: str
    name: str
    addresses: tuple[str, ...]
    port: int
    pins: tuple[str, ...]  # PEM; the current certificate and, during a rotation, the next
    user: str = ""  # who it is paired as (the console user who approved it for themselves)
    version: str = ""
    api_path: str = "/"
    ui_path: str = "/"
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer client wrote: kept, not read

    def moved(self, addresses: tuple[str, ...]) -> RememberedAppliance:
        return replace(self, addresses=addresses)

    def repinned(self, pins: list[str]) -> RememberedAppliance:
        return replace(self, pins=tuple(pins))


def default_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vomeet-client"


def keyring_usable() -> bool:
    """A real backend is configured (not keyring's `fail` one) and answers a read."""
    backend = keyring.get_keyring()
    try:
        if float(backend.priority) < 1:  # the fail and null backends, or a chainer of nothing
            return False
        backend.get_password(KEYRING_SERVICE, "probe")
    except (keyring.errors.KeyringError, RuntimeError, OSError):
        return False
    return True


class ClientStore:
    def __init__(self, config_dir: Path | None = None, use_keyring: bool | None = None) -> None:
        self.dir = config_dir if config_dir is not None else default_config_dir()
        self.uses_keyring = keyring_usable() if use_keyring is None else use_keyring
        self._appliances_file = self.dir / "appliances.json"
        self._device_file = self.dir / "device.json"
        self.secrets_file = self.dir / "secrets.json"

    @property
    def secret_storage(self) -> str:
        if self.uses_keyring:
            return f"the system keyring ({keyring.get_keyring().name})"
        return f"a file only you can read: {self.secrets_file}"

    # --- appliances ---------------------------------------------------------------------------
    def appliances(self) -> list[RememberedAppliance]:
        return [_appliance(entry) for entry in _read_json(self._appliances_file).get("appliances", [])]

    def get(self, appliance_id: str) -> RememberedAppliance | None:
        return next((a for a in self.appliances() if a.id == appliance_id), None)

    def remember(self, appliance: RememberedAppliance) -> None:
        """Add or replace (by id) an appliance."""
        kept = [a for a in self.appliances() if a.id != appliance.id] + [appliance]
        _write_json(self._appliances_file, {"appliances": [_entry(a) for a in kept]}, mode=0o644)

    def forget(self, appliance_id: str) -> None:
        kept = [a for a in self.appliances() if a.id != appliance_id]
        _write_json(self._appliances_file, {"appliances": [_entry(a) for a in kept]}, mode=0o644)
        self._set_secret(f"token:{appliance_id}", None)

    # --- secrets ------------------------------------------------------------------------------
    def token(self, appliance_id: str) -> str | None:
        return self._secret(f"token:{appliance_id}")

    def set_token(self, appliance_id: str, token: str | None) -> None:
        self._set_secret(f"token:{appliance_id}", token)

    def identity(self) -> DeviceIdentity:
        """The device's id and key, made at the first call and the same ever after."""
        device_id = _read_json(self._device_file).get("device_id")
        secret = self._secret(KEY_ENTRY)
        if isinstance(device_id, str) and secret:
            return DeviceIdentity.from_secret(device_id, secret)
        made = DeviceIdentity.new()
        self._set_secret(KEY_ENTRY, made.secret())
        _write_json(self._device_file, {"device_id": made.device_id}, mode=0o644)
        return made

    def _secret(self, entry: str) -> str | None:
        if self.uses_keyring:
            return keyring.get_password(KEYRING_SERVICE, entry)
        value = _read_json(self.secrets_file).get(entry)
        return value if isinstance(value, str) else None

    def _set_secret(self, entry: str, value: str | None) -> None:
        if self.uses_keyring:
            if value is not None:
                keyring.set_password(KEYRING_SERVICE, entry, value)
            else:
                with contextlib.suppress(keyring.errors.PasswordDeleteError):
                    keyring.delete_password(KEYRING_SERVICE, entry)
            return
        secrets = _read_json(self.secrets_file)
        if value is None:
            secrets.pop(entry, None)
        else:
            secrets[entry] = value
        _write_json(self.secrets_file, secrets, mode=0o600)


def _entry(appliance: RememberedAppliance) -> dict[str, Any]:
    entry = asdict(appliance)
    extra = entry.pop("extra")
    return {**extra, **entry, "addresses": list(appliance.addresses), "pins": list(appliance.pins)}


def _appliance(entry: dict[str, Any]) -> RememberedAppliance:
    known = set(RememberedAppliance.__dataclass_fields__) - {"extra"}
    return RememberedAppliance(
        **{key: value for key, value in entry.items() if key in known and key not in ("addresses", "pins")},
        addresses=tuple(entry.get("addresses", ())),
        pins=tuple(entry.get("pins", ())),
        extra={key: value for key, value in entry.items() if key not in known},
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_json(path: Path, data: dict[str, Any], mode: int) -> None:
    """Write `data` to `path` atomically with `mode`: a crash leaves the old file or the new,
    and a secrets file is never readable by others, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
