"""The Calendars screen (client/ui/calendars.py) against a real appliance whose Google endpoints
are the test double: "Connect Google Calendar" runs the sign-in off the GUI thread (the test's
browser stands in for the system one) and the connection is listed with its sync times."""

from __future__ import annotations

from PySide6.QtCore import Qt

from client.api import ApplianceClient
from client.ui import tasks
from client.ui.calendars import Calendars
from tests.calendars.providers.google_double import GoogleDouble
from tests.client.conftest import Browser, event_on_google, remembered, unique
from tests.client.gui.conftest import UI_TIMEOUT_MS
from tests.tls_helpers import TlsAppliance


def cells(screen: Calendars, row: int) -> list[str]:
    items = [screen.table.item(row, c) for c in range(screen.table.columnCount())]
    return [item.text() if item is not None else "" for item in items]


def test_connecting_google_lists_the_calendar_with_its_sync(qtbot, qapp, google_box: TlsAppliance,
                                                            google: GoogleDouble) -> None:
    email = unique("carol") + "@example.com"
    google.consenting_user = email
    event_on_google(google, email, "review", days=2)
    _, token = google_box.app.new_user(email)
    api = ApplianceClient(remembered(google_box), token)
    screen = Calendars()
    qtbot.addWidget(screen)
    screen.show()
    screen.api = api
    screen.refresh()
    qtbot.waitUntil(lambda: "No calendar connected yet." in screen.message.text(), timeout=UI_TIMEOUT_MS)
    browser = Browser()
    screen.open_browser = browser

    qtbot.mouseClick(screen.connect_google, Qt.MouseButton.LeftButton)
    assert not screen.connect_google.isEnabled()  # one sign-in at a time
    qtbot.waitUntil(lambda: screen.table.rowCount() == 1 and tasks.pending() == 0, timeout=UI_TIMEOUT_MS)

    assert "Connected Google Calendar: 1 upcoming event read." in screen.message.text()
    name, kind, last_sync, next_sync, error = cells(screen, 0)
    assert (name, kind, error) == ("Google Calendar", "Google", "")
    assert last_sync[:4].isdigit() and next_sync >= last_sync
    assert screen.connect_google.isEnabled() and len(browser.opened) == 1
    api.close()


def test_a_refused_sign_in_is_said_on_the_screen(qtbot, qapp, google_box: TlsAppliance, google: GoogleDouble) -> None:
    google.denies = True
    _, token = google_box.app.new_user(unique("dave") + "@example.com")
    api = ApplianceClient(remembered(google_box), token)
    screen = Calendars()
    qtbot.addWidget(screen)
    screen.api = api
    screen.open_browser = Browser()
    qtbot.mouseClick(screen.connect_google, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.connect_google.isEnabled(), timeout=UI_TIMEOUT_MS)
    assert screen.message.text() == ("Google Calendar was not connected: Google's sign-in did not give access "
                                     "to your calendar: you declined access")
    assert screen.table.rowCount() == 0
    api.close()
