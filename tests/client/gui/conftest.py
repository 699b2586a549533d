"""The desktop client's windows under pytest-qt, against the real appliance: `vomeet serve` with
TLS on, announced by mDNS on loopback (the appliance's own `Discovery`, in this process, on an mDNS
port of the test's own, as tests/discovery does), and pairing approved on the console's Devices
page by a signed-in user, as a person would."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import asyncio  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtWidgets import QTableWidget  # noqa: E402

from appliance.config import Settings  # noqa: E402
from appliance.discovery.service import Discovery  # noqa: E402
from client.store import ClientStore  # noqa: E402
from client.ui import theme  # noqa: E402
from client.ui.window import MainWindow  # noqa: E402
from tests.console.conftest import csrf_of  # noqa: E402
from tests.discovery.helpers import isolated_mdns_port  # noqa: E402
from tests.tls_helpers import TlsAppliance, start_tls_appliance  # noqa: E402

LOOPBACK = ["127.0.0.1"]
UI_TIMEOUT_MS = 30_000


class Announced:
    """The appliance's mDNS announcement (its real `Discovery`) on an event loop thread."""

    def __init__(self, box: TlsAppliance, name: str) -> None:
        self.settings = Settings(data_dir=box.app.data_dir, host="127.0.0.1", port=box.https_port, tls="on",
                                 mdns_loopback=True, mdns_name=name, mdns_poll_s=0.5)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.discovery = Discovery.for_settings(self.settings)
        asyncio.run_coroutine_threadsafe(self.discovery.start(), self.loop).result(30)

    @property
    def appliance_id(self) -> str:
        return (self.settings.data_dir / "appliance-id").read_text().strip()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.discovery.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def announced(box: TlsAppliance, name: str) -> Iterator[Announced]:
    """Announce `box` on loopback while the block runs (the mDNS port is already the test's own)."""
    ad = Announced(box, name)
    try:
        yield ad
    finally:
        ad.stop()


@contextmanager
def running(data_dir: Path, **settings: str) -> Iterator[TlsAppliance]:
    """A `vomeet serve` with TLS on at `data_dir`, its own mDNS off (`announced` announces it on
    loopback); stopped and its children reaped after the block."""
    appliance = start_tls_appliance(data_dir, mdns="false", **settings)
    try:
        yield appliance
    finally:
        if appliance.app.process and appliance.app.process.poll() is None:
            appliance.app.stop()
        appliance.app.reap_leftovers()


@contextmanager
def serving(data_dir: Path, name: str, **settings: str) -> Iterator[tuple[TlsAppliance, Announced]]:
    """`running`, announced as `name` while the block runs."""
    with running(data_dir, **settings) as appliance, announced(appliance, name) as ad:
        yield appliance, ad


@pytest.fixture(scope="module")
def mdns_port() -> Iterator[int]:
    with isolated_mdns_port() as port:
        yield port


@contextmanager
def console_as(box: TlsAppliance, api_key: str) -> Iterator[httpx.Client]:
    """The console, signed in as the user of `api_key` (over the box's loopback listener)."""
    with httpx.Client(base_url=box.app.base_url, timeout=30) as client:
        fields = {"csrf_token": csrf_of(client.get("/ui/signin").text), "kind": "key", "api_key": api_key}
        answer = client.post("/ui/signin", data=fields)
        assert answer.status_code == 303, answer.text
        yield client


def asking_rows(console: httpx.Client) -> dict[str, int]:
    """The Devices page's "Asking to pair" rows: the code a person reads -> the request's row id."""
    page = console.get("/ui/devices").text
    rows = re.findall(r'<tr data-request="(\d+)">.*?class="pair-code">([\d ]+)<', page, flags=re.DOTALL)
    return {code.replace(" ", ""): int(row) for row, code in rows}


def decide_on_console(console: httpx.Client, code: str, approve: bool) -> None:
    """Find the request showing `code` on the Devices page and approve it for me (or reject it)."""
    rows = asking_rows(console)
    assert code in rows, f"the console shows no request with the code {code}: {sorted(rows)}"
    action = "approve" if approve else "reject"
    token = csrf_of(console.get("/ui/devices").text)
    answer = console.post(f"/ui/devices/requests/{rows[code]}/{action}", data={"csrf_token": token})
    assert answer.status_code == 303, answer.text


@pytest.fixture
def make_window(qtbot, qapp, tmp_path: Path) -> Iterator:
    """make_window(name="a") -> a shown MainWindow with its own settings folder (no keyring:
    the 0600 file), browsing and announcing on loopback."""
    made: list[MainWindow] = []

    def make(name: str = "desk") -> MainWindow:
        store = ClientStore(tmp_path / f"config-{name}", use_keyring=False)
        window = MainWindow(store, "0.1.0-test", interfaces=LOOPBACK, use_tray=False)
        theme.apply(qapp, theme.Theme.LIGHT)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()


def cell(table: QTableWidget, row: int, column: int) -> str:
    """The text a table shows at (row, column)."""
    item = table.item(row, column)
    assert item is not None, f"no cell at row {row}, column {column}"
    return item.text()


def listed(qtbot, window: MainWindow, appliance_id: str):
    """Wait until the appliance list shows `appliance_id`; its row."""
    def row():
        return next((r for r in window.appliances.rows() if r.ad.id == appliance_id), None)

    qtbot.waitUntil(lambda: row() is not None, timeout=UI_TIMEOUT_MS)
    return row()


def open_row(qtbot, window: MainWindow, appliance_id: str) -> None:
    """Select the appliance's row and press Open, as a person does."""
    from PySide6.QtCore import Qt

    listed(qtbot, window, appliance_id)
    index = next(i for i, r in enumerate(window.appliances.rows()) if r.ad.id == appliance_id)
    window.appliances.table.selectRow(index)
    qtbot.mouseClick(window.appliances.open_button, Qt.MouseButton.LeftButton)


def code_on_screen(qtbot, window: MainWindow) -> str:
    """The six digits the pairing dialog shows, once it shows them."""
    qtbot.waitUntil(lambda: window.pairing is not None and window.pairing.shown_code() != "",
                    timeout=UI_TIMEOUT_MS)
    assert window.pairing is not None
    return window.pairing.shown_code()


def newcomer(make_window, appliance: TlsAppliance, name: str) -> tuple[str, MainWindow]:
    """A new user `gui-<name>@example.com` of `appliance` (their key) and a window of their own."""
    _, key = appliance.app.new_user(f"gui-{name}@example.com")
    return key, make_window(name)


def asking(qtbot, make_window, served: tuple[TlsAppliance, Announced], name: str) -> tuple[str, MainWindow, str]:
    """`newcomer` who opened the announced appliance: their key, the window and the code it shows."""
    appliance, ad = served
    key, window = newcomer(make_window, appliance, name)
    open_row(qtbot, window, ad.appliance_id)
    return key, window, code_on_screen(qtbot, window)


def paired_window(qtbot, make_window, served: tuple[TlsAppliance, Announced], name: str) -> tuple[str, MainWindow]:
    """`newcomer` of the announced appliance, paired with it: the window shows its session."""
    appliance, ad = served
    key, window = newcomer(make_window, appliance, name)
    pair(qtbot, window, appliance, ad.appliance_id, key)
    return key, window


def pair(qtbot, window: MainWindow, box: TlsAppliance, appliance_id: str, api_key: str) -> None:
    """Open the appliance, approve the code on the console, wait for the session screen."""
    open_row(qtbot, window, appliance_id)
    code = code_on_screen(qtbot, window)
    with console_as(box, api_key) as console:
        decide_on_console(console, code, approve=True)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)
