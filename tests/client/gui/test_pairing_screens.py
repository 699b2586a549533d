"""Finding and pairing from the client's windows, against a real `vomeet serve` with TLS on,
announced by mDNS on loopback: the list shows the appliance and its fingerprint, the pairing
dialog's code is the one the console shows, and every refusal is said in the window (a code
rejected on the console, an expired request, a revoked device, a changed certificate)."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from appliance import __version__
from appliance.tls import TlsStore
from client.trust import fingerprint_of, grouped
from tests.client.gui.conftest import (
    UI_TIMEOUT_MS,
    Announced,
    announced,
    asking,
    cell,
    code_on_screen,
    console_as,
    decide_on_console,
    listed,
    newcomer,
    open_row,
    paired_window,
    running,
    serving,
)
from tests.conftest import HangingMeetingHost
from tests.tls_helpers import TlsAppliance, served_pem

EXPIRY_S = "12"  # short, so the expiry test waits seconds; the other tests approve within one or two


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, hanging_host: HangingMeetingHost,
        mdns_port: int) -> Iterator[tuple[TlsAppliance, Announced]]:
    with serving(tmp_path_factory.mktemp("gui-pairing") / "data", "pairing-box", pairing_expiry_s=EXPIRY_S,
                 google_meet_base_url=hanging_host.base_url, teams_base_url=hanging_host.base_url) as started:
        yield started


def test_the_announced_appliance_is_listed_and_pairs_with_the_code_the_console_shows(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, ad = box
    key, window = newcomer(make_window, appliance, "pair")
    row = listed(qtbot, window, ad.appliance_id)
    fingerprint = fingerprint_of(appliance.certificate_pem())
    assert (row.ad.name, row.ad.addresses, row.ad.port) == ("pairing-box", ("127.0.0.1",), appliance.https_port)
    table = window.appliances.table
    index = [r.ad.id for r in window.appliances.rows()].index(ad.appliance_id)
    cells = [cell(table, index, column) for column in range(table.columnCount())]
    assert cells == ["pairing-box", __version__, f"127.0.0.1:{appliance.https_port}",
                     grouped(fingerprint)[:23] + "…", "On this network"]
    window.appliances.table.selectRow(index)
    assert grouped(fingerprint) in window.appliances.details.text()  # the whole pin, to compare with the console

    open_row(qtbot, window, ad.appliance_id)
    code = code_on_screen(qtbot, window)
    dialog = window.pairing
    assert dialog is not None and "approve it there" in dialog.instructions.text()
    assert grouped(fingerprint) in dialog.fingerprint.text().replace("<br>", ":")  # on two lines
    with console_as(appliance, key) as console:
        decide_on_console(console, code, approve=True)  # fails unless the console shows this very code
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)
    assert "gui-pair@example.com" in window.session.header.text()
    qtbot.waitUntil(lambda: "No meetings yet" in window.session.meetings.message.text(), timeout=UI_TIMEOUT_MS)

    # Remembered: the pin and the user in the settings, the token in a file only the user reads.
    remembered = window.store.get(ad.appliance_id)
    assert remembered is not None and remembered.user == "gui-pair@example.com"
    assert [fingerprint_of(pem) for pem in remembered.pins] == [fingerprint]
    assert window.store.token(ad.appliance_id), "no device token kept"
    assert stat.S_IMODE(window.store.secrets_file.stat().st_mode) == 0o600

    # A bot sent for later (by another tool with the user's key) is listed as upcoming.
    later = tomorrow()
    scheduled_for_later(appliance, key, "upc-omin-gxx", later)
    upcoming = window.session.meetings.upcoming
    qtbot.waitUntil(lambda: upcoming.isVisible() and upcoming.rowCount() == 1, timeout=UI_TIMEOUT_MS)
    assert cell(upcoming, 0, 0) == "upc-omin-gxx"
    assert cell(upcoming, 0, 2) == later.strftime("%Y-%m-%d %H:%M")
    assert cell(upcoming, 0, 3).startswith("joins at ")

    # A link the appliance cannot read: its own reason is shown, the form stays usable.
    send = window.session.send_bot
    window.session.tabs.setCurrentWidget(send)
    qtbot.keyClicks(send.link, "https://example.com/not/a/meeting")
    qtbot.mouseClick(send.send_button, Qt.MouseButton.LeftButton)
    with appliance.pinned(headers={"X-API-Key": key}) as api:
        refused = api.post("/bots", json={"meeting_url": "https://example.com/not/a/meeting"})
    assert refused.status_code == 422
    qtbot.waitUntil(lambda: refused.json()["detail"] in send.message.text(), timeout=UI_TIMEOUT_MS)
    assert send.send_button.isEnabled() and send.link.text() == "https://example.com/not/a/meeting"


def tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)


def scheduled_for_later(appliance: TlsAppliance, key: str, code: str, later: datetime) -> dict:
    """A bot sent for `later` with the user's key (by another tool): the scheduled meeting."""
    with appliance.pinned(headers={"X-API-Key": key}) as api:
        made = api.post("/bots", json={"meeting_url": f"https://meet.google.com/{code}", "join_at": later.isoformat()})
    assert made.status_code == 201, made.text
    return made.json()


def test_the_user_overrides_an_upcoming_meeting_and_a_refusal_is_said(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, _ = box
    key, window = paired_window(qtbot, make_window, box, "override")
    scheduled = scheduled_for_later(appliance, key, "ovr-ride-abc", tomorrow())
    meetings = window.session.meetings
    qtbot.waitUntil(lambda: meetings.upcoming.isVisible() and meetings.upcoming.rowCount() == 1,
                    timeout=UI_TIMEOUT_MS)
    assert cell(meetings.upcoming, 0, 3).endswith("(requested by API)")  # the decision and its reason
    assert cell(meetings.upcoming, 0, 4) == "follow the rules"

    def stored() -> dict:
        with appliance.pinned(headers={"X-API-Key": key}) as api:
            answer = api.get(f"/scheduled/{scheduled['id']}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    meetings.upcoming.selectRow(0)
    for button, override, joins, shown in (("skip", "skip", False, "don't join"), ("join", "join", True, "join"),
                                           (None, None, True, "follow the rules")):
        qtbot.mouseClick(meetings.choices[button], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda override=override: stored()["override"] == override, timeout=UI_TIMEOUT_MS)
        qtbot.waitUntil(lambda shown=shown: cell(meetings.upcoming, 0, 4) == shown, timeout=UI_TIMEOUT_MS)
        assert stored()["auto_join"] is joins
        assert cell(meetings.upcoming, 0, 3).startswith("joins at" if joins else "no bot (override: skip)")
        assert meetings.choice_message.text() == ""

    # Cancelled elsewhere (the console) while the client still lists it: the appliance's refusal is shown.
    with appliance.pinned(headers={"X-API-Key": key}) as api:
        assert api.delete(f"/scheduled/{scheduled['id']}").status_code == 200
        refused = api.patch(f"/scheduled/{scheduled['id']}", json={"override": "join"})
    assert refused.status_code == 409
    meetings.upcoming.selectRow(0)
    qtbot.mouseClick(meetings.choices["join"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: refused.json()["detail"] in meetings.choice_message.text(), timeout=UI_TIMEOUT_MS)
    assert stored()["state"] == "cancelled" and stored()["override"] is None


def test_a_typed_address_pairs_after_showing_the_certificate_it_serves_and_is_the_announced_row(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, ad = box
    key, window = newcomer(make_window, appliance, "typed")
    listed(qtbot, window, ad.appliance_id)
    qtbot.keyClicks(window.appliances.address, f"127.0.0.1:{appliance.https_port}")
    qtbot.keyClick(window.appliances.address, Qt.Key.Key_Return)
    code = code_on_screen(qtbot, window)
    dialog = window.pairing
    assert dialog is not None  # nothing was announced to compare with: the person compares this
    assert grouped(fingerprint_of(appliance.certificate_pem())) in dialog.fingerprint.text().replace("<br>", ":")
    with console_as(appliance, key) as console:
        decide_on_console(console, code, approve=True)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)
    # The box said its id over the pinned connection: the typed address is the announced row
    # (only this box's rows: whatever else is announced on the test's mDNS port is not its business).
    assert [(r.ad.id, r.status) for r in window.appliances.rows() if r.ad.port == appliance.https_port] == [
        (ad.appliance_id, "Paired as gui-typed@example.com")]
    remembered = window.store.get(ad.appliance_id)
    assert remembered is not None and remembered.name == "pairing-box" and remembered.user == "gui-typed@example.com"
    assert window.store.get(f"manual:127.0.0.1:{appliance.https_port}") is None


def test_a_typed_address_paired_before_it_was_announced_is_one_row_with_its_announcement(
    qtbot, make_window, tmp_path: Path, hanging_host: HangingMeetingHost, mdns_port: int
) -> None:
    with running(tmp_path / "data", google_meet_base_url=hanging_host.base_url) as appliance:
        key, window = newcomer(make_window, appliance, "typed-first")
        qtbot.keyClicks(window.appliances.address, f"127.0.0.1:{appliance.https_port}")
        qtbot.keyClick(window.appliances.address, Qt.Key.Key_Return)
        code = code_on_screen(qtbot, window)
        with console_as(appliance, key) as console:
            decide_on_console(console, code, approve=True)
        qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)
        window.show_appliances()

        def ours() -> list:  # the module's pairing-box is announced on this mDNS port too
            return [r for r in window.appliances.rows() if r.ad.port == appliance.https_port]

        [typed] = ours()
        assert not typed.ad.manual and typed.status == "Paired as gui-typed-first@example.com (not announced now)"
        with announced(appliance, "typed-first-box") as ad:
            assert ad.appliance_id == typed.ad.id
            qtbot.waitUntil(lambda: [r.status for r in ours()] == ["Paired as gui-typed-first@example.com"],
                            timeout=UI_TIMEOUT_MS)
            assert ours()[0].ad.name == "typed-first-box"
            # The announced row is the paired appliance: it opens without pairing again.
            open_row(qtbot, window, ad.appliance_id)
            qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)
            assert window.pairing is None
            window.show_appliances()


def test_a_code_rejected_on_the_console_is_said_with_a_way_to_start_again(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, ad = box
    key, window, code = asking(qtbot, make_window, box, "reject")
    with console_as(appliance, key) as console:
        decide_on_console(console, code, approve=False)
    dialog = window.pairing
    assert dialog is not None
    qtbot.waitUntil(dialog.error.isVisible, timeout=UI_TIMEOUT_MS)
    assert "rejected" in dialog.heading.text()
    assert "same code" in dialog.error.text() and "start pairing again" in dialog.error.text()
    assert dialog.again.isVisible() and dialog.shown_code() == ""
    assert window.store.token(ad.appliance_id) is None


def test_an_expired_request_tells_the_user_to_start_again_and_the_new_one_pairs(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, _ = box
    key, window, first = asking(qtbot, make_window, box, "expired")
    dialog = window.pairing
    assert dialog is not None
    qtbot.waitUntil(dialog.error.isVisible, timeout=int(float(EXPIRY_S) * 1000) + UI_TIMEOUT_MS)
    assert "expired" in dialog.heading.text() and "start pairing again" in dialog.error.text()
    with console_as(appliance, key) as console:
        assert first not in re.sub(r"\s", "", console.get("/ui/devices").text.split('id="paired"')[0]), \
            "the console still offers the expired request"
    qtbot.mouseClick(dialog.again, Qt.MouseButton.LeftButton)  # a new request, a new code
    second = code_on_screen(qtbot, window)
    with console_as(appliance, key) as console:
        decide_on_console(console, second, approve=True)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.session, timeout=UI_TIMEOUT_MS)


def test_a_revoked_device_is_sent_back_to_the_list_told_to_pair_again(
    qtbot, make_window, box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, ad = box
    key, window = paired_window(qtbot, make_window, box, "revoked")
    with console_as(appliance, key) as console:
        page = console.get("/ui/devices").text
        devices = re.findall(r'<tr data-device="(\d+)">', page.split('id="paired"')[1])
        assert len(devices) == 1, devices
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        answer = console.post(f"/ui/devices/{devices[0]}/revoke", data={"csrf_token": token.group(1)})
        assert answer.status_code == 303, answer.text
    # The meetings list refreshes every few seconds; its next call is refused.
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.appliances, timeout=UI_TIMEOUT_MS)
    assert "revoked" in window.appliances.error.text() and "pair it again" in window.appliances.error.text()
    assert window.store.token(ad.appliance_id) is None  # opening it again pairs anew


@pytest.fixture
def own_box(
    tmp_path: Path, hanging_host: HangingMeetingHost, mdns_port: int
) -> Iterator[tuple[TlsAppliance, Announced]]:
    """A box of the test's own, announced as `own-box`, for a test that changes it under the client."""
    with serving(tmp_path / "data", "own-box", google_meet_base_url=hanging_host.base_url) as started:
        yield started


def test_a_changed_certificate_is_refused_with_what_to_do(
    qtbot, make_window, own_box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, ad = own_box
    key, window = paired_window(qtbot, make_window, own_box, "cert")
    old = fingerprint_of(appliance.certificate_pem())
    window.show_appliances()
    # Replaced without the client reading the staged one first (a reinstall, or someone else).
    store = TlsStore(ad.settings)
    store.stage()
    new = store.activate().fingerprint
    assert new != old
    qtbot.waitUntil(lambda: fingerprint_of(served_pem(appliance.https_port)) == new, timeout=UI_TIMEOUT_MS)
    open_row(qtbot, window, ad.appliance_id)
    qtbot.waitUntil(window.appliances.error.isVisible, timeout=UI_TIMEOUT_MS)
    assert "certificate changed" in window.appliances.error.text()
    assert "confirm the new fingerprint on the console" in window.appliances.error.text()
    assert window.pages.currentWidget() is window.appliances
    remembered = window.store.get(ad.appliance_id)
    assert remembered is not None and [fingerprint_of(p) for p in remembered.pins] == [old]


def test_an_appliance_that_stops_answering_is_said_to_be_unreachable(
    qtbot, make_window, own_box: tuple[TlsAppliance, Announced]
) -> None:
    appliance, _ = own_box
    _, window = paired_window(qtbot, make_window, own_box, "gone")
    appliance.app.kill()  # power lost, or the box taken off the network
    session = window.session
    qtbot.waitUntil(lambda: session.connection.text() == "Unreachable", timeout=UI_TIMEOUT_MS)
    assert "unreachable" in session.meetings.message.text()
    assert "check that it is on" in session.meetings.message.text()
