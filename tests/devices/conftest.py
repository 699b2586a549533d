"""A real appliance with TLS on (HTTPS on its LAN port, plain HTTP on loopback) for the pairing
tests, and its console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import PASSWORD, Console, csrf_of
from tests.tls_helpers import TlsAppliance, start_tls_appliance


class PairingBox:
    """A TLS appliance and its console, with the tests' ways to decide a pairing request."""

    def __init__(self, tls: TlsAppliance) -> None:
        self.tls = tls
        printed = PASSWORD.search(tls.app.log_path.read_text(errors="replace"))
        assert printed, "vomeet serve printed no console password"
        self.console = Console(tls.app, printed.group(1))

    def pinned(self, **kwargs: Any) -> httpx.Client:
        return self.tls.pinned(**kwargs)

    def listed(self, signed_in: httpx.Client, device_id: str) -> tuple[int, str]:
        """(request number, code shown) of the device's row under "Asking to pair"."""
        found = asking_row(signed_in.get("/ui/devices").text, device_id)
        assert found is not None, f"the Devices page lists no request from {device_id}"
        return found

    def decide(self, signed_in: httpx.Client, request_id: int, action: str, **form: str) -> str:
        """Press Approve or Reject on the Devices page; returns the flash message shown after."""
        page = signed_in.get("/ui/devices")
        answer = signed_in.post(f"/ui/devices/requests/{request_id}/{action}",
                                data={"csrf_token": csrf_of(page.text), **form})
        assert answer.status_code == 303, answer.text
        return signed_in.get(answer.headers["location"]).text

    def stop(self) -> None:
        if self.tls.app.process and self.tls.app.process.poll() is None:
            self.tls.app.stop()


def start_box(data_dir: Path, **settings: str) -> PairingBox:
    return PairingBox(start_tls_appliance(data_dir, **settings))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PairingBox]:
    started = start_box(tmp_path_factory.mktemp("pairing") / "data")
    yield started
    started.stop()


def asking_row(page_html: str, device_id: str) -> tuple[int, str] | None:
    """(request number, code shown) of a device's row under "Asking to pair", if it is there."""
    import re

    for number, row in re.findall(r'<tr data-request="(\d+)">(.*?)</tr>', page_html, flags=re.DOTALL):
        if device_id in row:
            code = re.search(r'class="pair-code">([\d ]+)<', row)
            assert code, row
            return int(number), code.group(1).replace(" ", "")
    return None
