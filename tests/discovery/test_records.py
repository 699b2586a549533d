"""What the appliance announces, checked against the DNS-SD limits (RFC 6763) without a network."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from zeroconf import BadTypeInNameException
from zeroconf._utils.name import service_type_name

from appliance.config import Settings
from appliance.discovery.browser import MAX_NAME_CHARS, sighting_from
from appliance.discovery.identity import appliance_id
from appliance.discovery.records import (
    APPLIANCE_SERVICE_TYPE,
    HTTP_SERVICE_TYPE,
    HTTPS_SERVICE_TYPE,
    TXT_BUDGET_BYTES,
    TxtTooLarge,
    appliance_txt,
    checked_txt,
    instance_name,
    services,
    txt_size,
)
from appliance.discovery.sightings import CLIENT_SERVICE_TYPE

FINGERPRINT = "0f" * 32
APPLIANCE_ID = "3f2b8a0e-5c1d-4e7f-9a6b-2d8c4e1f0a9b"


@pytest.mark.parametrize(
    "service_type", [APPLIANCE_SERVICE_TYPE, CLIENT_SERVICE_TYPE, HTTPS_SERVICE_TYPE, HTTP_SERVICE_TYPE]
)
def test_service_types_are_valid_under_the_strict_rules(service_type: str) -> None:
    # strict=True enforces RFC 6763's 15-byte service name; _vomeet-client is 14.
    assert service_type_name(service_type, strict=True) == service_type


def test_a_longer_product_name_would_be_refused() -> None:
    with pytest.raises(BadTypeInNameException):
        service_type_name("_vomeet-desktop-client._tcp.local.", strict=True)


def test_the_txt_record_has_the_contract_keys_in_order_with_tls_on() -> None:
    txt = appliance_txt(APPLIANCE_ID, "1.4.2", FINGERPRINT)
    assert list(txt) == ["txtvers", "id", "ver", "api", "ui", "tls", "fp"]
    assert txt == {
        "txtvers": "1", "id": APPLIANCE_ID, "ver": "1.4.2", "api": "/", "ui": "/ui", "tls": "1", "fp": FINGERPRINT,
    }
    assert txt_size(txt) <= TXT_BUDGET_BYTES  # about 150 bytes with a 64-hex pin


def test_without_tls_there_is_no_pin_and_the_console_is_plain_http() -> None:
    appliance, console = services(APPLIANCE_ID, "1.4.2", None)
    assert appliance.properties["tls"] == "0" and "fp" not in appliance.properties
    assert console.type == HTTP_SERVICE_TYPE and console.properties == {"path": "/ui"}
    assert services(APPLIANCE_ID, "1.4.2", FINGERPRINT)[1].type == HTTPS_SERVICE_TYPE


def test_txt_size_counts_a_length_byte_per_entry() -> None:
    assert txt_size({"a": "b"}) == 4  # \x03 a=b
    assert txt_size({"txtvers": "1", "é": "x"}) == 1 + 9 + 1 + 4  # é is two bytes of UTF-8


def test_an_entry_over_255_bytes_is_refused_as_such() -> None:
    with pytest.raises(TxtTooLarge, match="'k' is 256 bytes"):
        checked_txt({"k": "v" * 254})
    with pytest.raises(TxtTooLarge, match="the TXT record is 256 bytes"):  # 255 fits an entry, not the budget
        checked_txt({"k": "v" * 253})
    assert checked_txt({"k": "v" * 197}) == {"k": "v" * 197}  # 1 + 199 bytes: the budget exactly


def test_a_record_over_the_budget_is_refused() -> None:
    with pytest.raises(TxtTooLarge, match="the TXT record is"):
        appliance_txt(APPLIANCE_ID, "9" * 60, FINGERPRINT)


def test_instance_names_lose_dots_and_fit_a_dns_label() -> None:
    assert instance_name("meeting.room.3") == "meeting room 3"
    long = instance_name("Ü" * 40)  # 80 bytes of UTF-8
    assert long == "Ü" * 31 and len(long.encode()) <= 63  # cut at a character, not mid-byte
    assert instance_name(None)  # the host name


def test_the_appliance_id_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = appliance_id(settings)
    assert uuid.UUID(first) and appliance_id(settings) == first
    (tmp_path / "appliance-id").write_text("not a uuid")
    replaced = appliance_id(settings)
    assert replaced != first and appliance_id(settings) == replaced


SEEN = datetime(2026, 12, 2, tzinfo=UTC)
CLIENT = {b"txtvers": b"1", b"id": b"6F1C0B5E-9D3A-4C2B-8E7F-1A2B3C4D5E6F", b"name": b"Ana's laptop", b"ver": b"0.3.0"}


def test_a_client_announcement_becomes_a_sighting() -> None:
    found = sighting_from(CLIENT, ["192.168.1.20", "fe80::1%2", "0.0.0.0"], 40123, SEEN)
    assert not isinstance(found, str)
    assert found.device_id == "6f1c0b5e-9d3a-4c2b-8e7f-1a2b3c4d5e6f"  # canonical form
    assert (found.name, found.version) == ("Ana's laptop", "0.3.0")
    assert found.addresses == ("192.168.1.20",) and found.port == 40123  # link-local and unspecified dropped


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({b"txtvers": b"2"}, "no txtvers=1"),
        ({b"txtvers": None}, "no txtvers=1"),
        ({b"id": b"laptop-7"}, "is not a UUID"),
        ({b"id": None}, "is not a UUID"),
        ({b"id": b"\xff\xfe"}, "is not a UUID"),
    ],
)
def test_a_malformed_client_announcement_is_ignored_with_a_reason(
    change: dict[bytes, bytes | None], reason: str
) -> None:
    found = sighting_from({**CLIENT, **change}, ["192.168.1.20"], 40123, SEEN)
    assert isinstance(found, str) and reason in found


def test_client_text_is_cut_and_cleaned() -> None:
    found = sighting_from(
        {**CLIENT, b"name": b"\x1b[31m" + b"x" * 500, b"ver": None}, ["192.168.1.20"], 40123, SEEN
    )
    assert not isinstance(found, str)
    assert found.name == "[31m" + "x" * (MAX_NAME_CHARS - 4) and found.version == "unknown"
    assert isinstance(sighting_from(CLIENT, ["fe80::1%2"], 40123, SEEN), str)  # nothing reachable
