"""What the client remembers, on a machine without a usable keyring: the secrets fall back to a
file only the user can read, and nothing secret is written anywhere else."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from client.store import ClientStore, RememberedAppliance, default_config_dir, keyring_usable


@pytest.fixture
def no_keyring() -> object:
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_without_a_keyring_secrets_go_to_a_0600_file(tmp_path: Path, no_keyring: object) -> None:
    assert keyring_usable() is False
    store = ClientStore(tmp_path / "vomeet-client")
    assert store.uses_keyring is False
    assert store.secret_storage == f"a file only you can read: {tmp_path / 'vomeet-client' / 'secrets.json'}"

    identity = store.identity()
    box = RememberedAppliance(id="box-1", name="Front desk", addresses=("192.0.2.7",), port=8056,
                              pins=("-----BEGIN CERTIFICATE-----\n...",), user="alice@example.com")
    store.remember(box)
    store.set_token("box-1", "vmt_secret-token")

    secrets = tmp_path / "vomeet-client" / "secrets.json"
    assert _mode(secrets) == 0o600 and _mode(secrets.parent) == 0o700
    assert json.loads(secrets.read_text()) == {"device-key": identity.secret(), "token:box-1": "vmt_secret-token"}
    for public in ("appliances.json", "device.json"):
        text = (tmp_path / "vomeet-client" / public).read_text()
        assert "vmt_secret-token" not in text and identity.secret() not in text

    # A new start (a new store on the same folder) finds all of it again.
    again = ClientStore(tmp_path / "vomeet-client")
    assert again.identity().device_id == identity.device_id
    assert again.identity().public_raw() == identity.public_raw()
    assert again.get("box-1") == box and again.token("box-1") == "vmt_secret-token"
    assert [a.id for a in again.appliances()] == ["box-1"]

    again.forget("box-1")
    assert again.appliances() == [] and again.token("box-1") is None
    assert list((tmp_path / "vomeet-client").glob(".*")) == []  # no temporary file left behind


def test_a_moved_appliance_is_remembered_in_place(tmp_path: Path, no_keyring: object) -> None:
    store = ClientStore(tmp_path)
    box = RememberedAppliance(id="box-1", name="Front desk", addresses=("192.0.2.7",), port=8056, pins=("p",))
    store.remember(box)
    store.remember(box.moved(("192.0.2.99", "192.0.2.7")))
    assert [a.addresses for a in store.appliances()] == [("192.0.2.99", "192.0.2.7")]


def test_the_config_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_dir() == tmp_path / "vomeet-client"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert default_config_dir() == Path.home() / ".config" / "vomeet-client"
