"""Pairing with an appliance, without typing a key: the dialog fetches and checks the
appliance's certificate, asks to pair, shows the six-digit code large with what to do ("check
the console shows the same code and approve it"), and polls until a console user approves. Every
refusal (expired, rejected, a changed certificate, unreachable) is said in words with a way on:
"Start again", or close. The network steps run off the GUI thread (`client.ui.tasks`)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from client.discovery import ApplianceAd
from client.errors import ClientError, ErrorKind
from client.identity import DeviceIdentity
from client.pairing import POLL_INTERVAL_S, Pairing, PairingRequest, PollResult, shown
from client.trust import fingerprint_of, first_contact, grouped, pinned_context
from client.ui import tasks


@dataclass(frozen=True)
class Paired:
    """What a successful pairing leaves: the token (to store), the user, the pinned PEM and, for a
    typed address, the appliance's own id (None from an appliance that does not say it)."""

    token: str
    user: str
    pem: str
    appliance_id: str | None = None


@dataclass(frozen=True)
class _Started:
    pem: str
    pairing: Pairing
    request: PairingRequest
    appliance_id: str | None


class PairingDialog(QDialog):
    def __init__(self, ad: ApplianceAd, identity: DeviceIdentity, device_name: str, version: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Pair with {ad.name}")
        self.setMinimumWidth(460)
        self.ad, self.identity, self.device_name, self.version = ad, identity, device_name, version
        self.result_paired: Paired | None = None
        self._started: _Started | None = None
        self._polling = False
        self.heading = QLabel(self)
        self.heading.setWordWrap(True)
        self.code = QLabel("", self)
        self.code.setObjectName("code")
        font = QFont()
        font.setPointSize(34)
        font.setBold(True)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.code.setFont(font)
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.instructions = QLabel(self)
        self.instructions.setObjectName("instructions")
        self.instructions.setWordWrap(True)
        self.fingerprint = QLabel(self)
        self.fingerprint.setObjectName("fingerprint")
        self.fingerprint.setWordWrap(True)
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = QLabel(self)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        self.error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.again = QPushButton("Start again", self)
        self.again.setObjectName("again")
        self.again.clicked.connect(self.begin)
        buttons.addButton(self.again, QDialogButtonBox.ButtonRole.ActionRole)
        self.again.hide()  # after addButton, which shows it
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.heading, self.code, self.instructions, self.fingerprint, self.error):
            layout.addWidget(widget)
        layout.addWidget(buttons)
        self._poller = QTimer(self, interval=int(POLL_INTERVAL_S * 1000))
        self._poller.timeout.connect(self._poll)
        self.finished.connect(self._stop)

    # The steps ------------------------------------------------------------------------------

    def begin(self) -> None:
        self._stop()
        self.error.hide()
        self.again.hide()
        self.code.setText("··· ···")
        self.code.show()
        self.heading.setText(f"<b>Checking {html.escape(self.ad.name)}'s certificate…</b>")
        self.instructions.setText("")
        self.fingerprint.setText("")
        tasks.run(self._ask, self._asked, self._failed)

    def _ask(self) -> _Started:
        address = self.ad.addresses[0]
        pem = first_contact(address, self.ad.port, self.ad.fingerprint)
        pairing = Pairing(self.ad.base_url(address), pinned_context([pem]), self.identity,
                          self.device_name, self.version)
        # A typed address has no announced id: ask the box for its own over the pinned connection.
        found = pairing.appliance_id() if self.ad.manual else None
        return _Started(pem, pairing, pairing.start(fingerprint_of(pem)), found)

    def _asked(self, started: _Started) -> None:
        if not self.isVisible():
            started.pairing.close()
            return
        self._started = started
        self.show_code(started.request.code, fingerprint_of(started.pem))
        self._poller.start()

    def show_code(self, code: str, fingerprint: str) -> None:
        self.heading.setText(f"<b>Pairing code for {html.escape(self.ad.name)}</b>")
        self.code.setText(shown(code))
        self.code.show()
        self.instructions.setText(
            "Open the appliance's console, go to <b>Devices</b>, and check it shows this same code "
            f"for “{html.escape(self.device_name)}”. If it does, approve it there; if it does not, reject it. "
            "This window finishes by itself once you approve.")
        groups = grouped(fingerprint).split(":")
        self.fingerprint.setText("Certificate fingerprint (the console's System page shows it too):<br><code>"
                                 f"{':'.join(groups[:16])}<br>{':'.join(groups[16:])}</code>")

    def shown_code(self) -> str:
        """The six digits on screen, without the space ("" while none is shown)."""
        return self.code.text().replace(" ", "") if self.code.text().replace(" ", "").isdigit() else ""

    def _poll(self) -> None:
        started = self._started
        if started is None or self._polling:
            return
        self._polling = True
        tasks.run(lambda: started.pairing.poll(started.request), self._polled, self._failed)

    def _polled(self, result: PollResult) -> None:
        self._polling = False
        started = self._started
        if started is None or result.token is None:
            return
        self._stop()
        self.result_paired = Paired(result.token, result.user or "", started.pem, started.appliance_id)
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._polling = False
        self._stop()
        self.show_failure(exc)

    def show_failure(self, exc: Exception) -> None:
        self.code.setText("")
        self.code.hide()
        if not isinstance(exc, ClientError):
            exc = ClientError(ErrorKind.PROTOCOL, f"pairing stopped: {exc}")
        self.heading.setText(f"<b>{_HEADINGS.get(exc.kind, 'Pairing did not finish')}</b>")
        self.instructions.setText("")
        self.error.setText(str(exc))
        self.error.show()
        self.again.setVisible(exc.kind is not ErrorKind.FINGERPRINT_MISMATCH)

    def _stop(self) -> None:
        self._poller.stop()
        if self._started is not None:
            self._started.pairing.close()
            self._started = None


_HEADINGS = {
    ErrorKind.PAIRING_EXPIRED: "The pairing request expired",
    ErrorKind.PAIRING_REJECTED: "The pairing was rejected on the console",
    ErrorKind.CERTIFICATE_CHANGED: "The appliance's certificate changed",
    ErrorKind.FINGERPRINT_MISMATCH: "This is not the certificate the appliance announced",
    ErrorKind.UNREACHABLE: "The appliance is unreachable",
}
