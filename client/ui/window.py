"""The main window: the list of appliances until one is opened, then that appliance's session;
the notification banner above both; the menu with the theme and "forget this appliance".

Opening an appliance: a remembered one (with its device token) is checked over the pinned
connection (`GET /tls`, which also learns a staged next certificate, then the meetings, which
prove the token); an unknown one is paired first (`PairingDialog`). A changed certificate, a
revoked device or an unreachable appliance is said on the list, in the words the core gives."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from client.announce import ClientAnnouncer
from client.api import ApplianceClient
from client.discovery import ApplianceAd, ApplianceBrowser
from client.errors import ClientError, ErrorKind
from client.store import ClientStore, RememberedAppliance
from client.trust import fingerprint_of
from client.ui import tasks, theme
from client.ui.appliance_list import ApplianceList
from client.ui.live_feeds import LiveFeeds
from client.ui.notifications import Banner, Notifier
from client.ui.pairing_dialog import Paired, PairingDialog
from client.ui.preferences import Preferences
from client.ui.session import Session


def device_name() -> str:
    """How the console's Devices page names this computer."""
    return f"{getpass.getuser()} on {socket.gethostname()}"


def ad_of(remembered: RememberedAppliance) -> ApplianceAd:
    return ApplianceAd(id=remembered.id, name=remembered.name, version=remembered.version,
                       addresses=remembered.addresses, port=remembered.port, tls=True, fingerprint=None,
                       api_path=remembered.api_path, ui_path=remembered.ui_path)


class MainWindow(QMainWindow):
    def __init__(self, store: ClientStore, version: str, interfaces: Sequence[str] | None = None,
                 use_tray: bool | None = None, discover: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Vomeet")
        self.resize(980, 680)
        self.store, self.version = store, version
        self.preferences = Preferences(store.dir)
        self.identity = store.identity()
        self.banner = Banner(self)
        self.notifier = Notifier(self.banner, QIcon.fromTheme("dialog-information"), use_tray)
        self.appliances = ApplianceList(self)
        self.feeds = LiveFeeds(self)
        self.session = Session(self.feeds, self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.appliances)
        self.pages.addWidget(self.session)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.pairing: PairingDialog | None = None
        self._menus()
        self.appliances.chosen.connect(self.open_appliance)
        self.session.leave.connect(self.show_appliances)
        self.session.lost.connect(self._session_lost)
        self.feeds.notice.connect(self.notifier.notify)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)
        for remembered in store.appliances():
            self.appliances.remembered(ad_of(remembered), remembered.user or "you")
        self.browser: ApplianceBrowser | None = None
        self.announcer: ClientAnnouncer | None = None
        if discover:
            self.browser = ApplianceBrowser(self.appliances.ad_found.emit, self.appliances.ad_lost.emit, interfaces)
            self.browser.start()
            self.announcer = ClientAnnouncer(self.identity.device_id, device_name(), version, interfaces)
            self.announcer.start()

    # Menus -----------------------------------------------------------------------------------

    def _menus(self) -> None:
        view = self.menuBar().addMenu("&View")
        group = QActionGroup(self)
        chosen = self.preferences.theme()
        self.theme_actions: dict[theme.Theme, QAction] = {}
        for option, label in ((theme.Theme.SYSTEM, "Follow the system"), (theme.Theme.LIGHT, "Light"),
                              (theme.Theme.DARK, "Dark")):
            action = QAction(label, self, checkable=True, checked=option is chosen)
            action.triggered.connect(lambda _=False, option=option: self.set_theme(option))
            group.addAction(action)
            view.addAction(action)
            self.theme_actions[option] = action
        appliance = self.menuBar().addMenu("&Appliance")
        appliance.addAction("Appliances…", self.show_appliances)
        appliance.addAction("Forget the selected appliance", self.forget_selected)

    def set_theme(self, option: theme.Theme) -> None:
        self.preferences.set_theme(option)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, option)
        self.theme_actions[option].setChecked(True)
        self.session.meeting_view.transcript.flush()  # its colours follow the theme

    def _system_scheme_changed(self) -> None:
        """The desktop switched light/dark: follow it, unless the user picked one."""
        if self.preferences.theme() is theme.Theme.SYSTEM:
            self.set_theme(theme.Theme.SYSTEM)

    # Opening an appliance --------------------------------------------------------------------

    def open_appliance(self, ad: ApplianceAd) -> None:
        remembered = self.store.get(ad.id)
        token = self.store.token(ad.id) if remembered else None
        if remembered is None or token is None:
            self._pair(ad)
            return
        if not ad.manual and ad.addresses and ad.addresses != remembered.addresses:
            remembered = remembered.moved(ad.addresses)  # announced elsewhere now: follow it
            self.store.remember(remembered)
        api = ApplianceClient(remembered, token, locate=self._locate, on_change=self.store.remember)

        def check() -> ApplianceClient:
            api.learn_rotation()  # over the pinned connection: a changed certificate fails here
            api.meetings(limit=1)  # the token: a revoked device fails here
            return api

        tasks.run(check, self._opened, lambda exc: self._open_failed(ad.id, api, exc))

    def _opened(self, api: ApplianceClient) -> None:
        self.session.start(api)
        self.pages.setCurrentWidget(self.session)

    def _open_failed(self, appliance_id: str, api: ApplianceClient, exc: Exception) -> None:
        api.close()
        message = str(exc)
        if isinstance(exc, ClientError) and exc.kind is ErrorKind.REVOKED:
            self.store.set_token(appliance_id, None)  # dead anyway; opening it again pairs anew
            message += " (open it again to pair)"
        if isinstance(exc, ClientError) and exc.kind is ErrorKind.UNREACHABLE:
            self.appliances.unreachable(appliance_id, message)
        self.appliances.show_error(message)
        self.show_appliances()

    def _pair(self, ad: ApplianceAd) -> None:
        dialog = PairingDialog(ad, self.identity, device_name(), self.version, self)
        self.pairing = dialog
        dialog.accepted.connect(lambda: self._paired(ad, dialog.result_paired))
        dialog.open()
        dialog.begin()

    def _paired(self, ad: ApplianceAd, paired: Paired | None) -> None:
        self.pairing = None
        if paired is None:
            return
        if ad.manual and paired.appliance_id:
            ad = self._identified(ad, paired)
        remembered = RememberedAppliance(
            id=ad.id, name=ad.name, addresses=ad.addresses, port=ad.port, pins=(paired.pem,),
            user=paired.user, version=ad.version, api_path=ad.api_path, ui_path=ad.ui_path)
        self.store.remember(remembered)
        self.store.set_token(ad.id, paired.token)
        self.appliances.remembered(ad, paired.user or "you")
        self.open_appliance(ad)

    def _identified(self, typed: ApplianceAd, paired: Paired) -> ApplianceAd:
        """A typed address's appliance under its own id (from `GET /tls`), so it is the same row as
        its announcement and follows the announced address; the announced name and version when
        the announcement's fingerprint is the certificate just pinned."""
        appliance_id = str(paired.appliance_id)
        ad = replace(typed, id=appliance_id)
        announced = self._locate(appliance_id)
        if announced is not None and announced.fingerprint == fingerprint_of(paired.pem):
            ad = replace(ad, name=announced.name, version=announced.version)
        self.appliances.identified(typed.id, ad)
        return ad

    def _locate(self, appliance_id: str) -> ApplianceAd | None:
        return self.browser.find(appliance_id) if self.browser is not None else None

    # Leaving ---------------------------------------------------------------------------------

    def show_appliances(self) -> None:
        self.session.stop()
        self.pages.setCurrentWidget(self.appliances)

    def forget_selected(self) -> None:
        rows = self.appliances.rows()
        index = self.appliances.table.currentRow()
        if 0 <= index < len(rows):
            self.store.forget(rows[index].ad.id)
            self.appliances.forgotten(rows[index].ad.id)

    def _session_lost(self, exc: ClientError) -> None:
        api = self.session.api
        self.show_appliances()
        if api is not None and exc.kind is ErrorKind.REVOKED:
            self.store.set_token(api.appliance.id, None)
        self.appliances.show_error(str(exc))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.session.stop()
        if self.announcer is not None:
            self.announcer.stop()
        if self.browser is not None:
            self.browser.stop()
        super().closeEvent(event)

