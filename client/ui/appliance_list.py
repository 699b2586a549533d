"""The first screen: the appliances on the LAN (name, version, address, fingerprint), the ones
this computer is paired with, and an address box for a network where mDNS does not pass.

Rows come from three places: mDNS announcements (`ad_found` / `ad_lost`, fed by
`client.discovery.ApplianceBrowser` from its own thread, so they arrive here as queued signals),
the remembered appliances, and addresses typed by hand. A row whose last contact failed says
"unreachable" and why, in words, instead of vanishing."""

from __future__ import annotations

import html
from dataclasses import dataclass, replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from client.discovery import ApplianceAd, manual_ad
from client.errors import ClientError
from client.trust import grouped

COLUMNS = ("Name", "Version", "Address", "Fingerprint", "Status")
SHORT_GROUPS = 8  # of the fingerprint's 32 in the table; the whole one is shown below it


def short_fingerprint(fingerprint: str | None) -> str:
    if not fingerprint:
        return "checked when opened"
    return ":".join(grouped(fingerprint).split(":")[:SHORT_GROUPS]) + "…"


@dataclass(frozen=True)
class Row:
    ad: ApplianceAd
    on_lan: bool = False  # announced now
    paired_as: str | None = None  # the user this computer is paired as, when remembered
    problem: str | None = None  # why the last contact failed

    @property
    def status(self) -> str:
        if self.problem:
            return "Unreachable"
        if self.paired_as:
            where = " (typed address)" if self.ad.manual else "" if self.on_lan else " (not announced now)"
            return f"Paired as {self.paired_as}{where}"
        return "On this network" if self.on_lan else "Typed address"


class ApplianceList(QWidget):
    """Emits `chosen(ad)` when the user opens an appliance (double click or Open)."""

    chosen = Signal(object)
    ad_found = Signal(object)  # ApplianceAd, from the browser's thread
    ad_lost = Signal(str)  # appliance id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[str, Row] = {}
        title = QLabel("<h2>Appliances</h2>", self)
        hint = QLabel("Appliances announce themselves on this network. Pick one to open it, or type "
                      "its address if it is not listed.", self)
        hint.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("appliances")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(lambda row, _column: self._open(row))
        self.table.currentCellChanged.connect(lambda *_: self._describe())
        self.details = QLabel(self)
        self.details.setObjectName("details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty = QLabel("Looking for appliances on this network…", self)
        self.empty.setObjectName("emptyList")
        self.address = QLineEdit(self)
        self.address.setObjectName("address")
        self.address.setPlaceholderText("Address, e.g. 192.0.2.7:8056")
        self.address.returnPressed.connect(self._add_typed)
        add = QPushButton("Add address", self)
        add.clicked.connect(self._add_typed)
        self.open_button = QPushButton("Open", self)
        self.open_button.setObjectName("open")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(lambda: self._open(self.table.currentRow()))
        self.error = QLabel(self)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        self.error.hide()
        typed = QHBoxLayout()
        typed.addWidget(self.address, 1)
        typed.addWidget(add)
        typed.addStretch()
        typed.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.empty)
        layout.addWidget(self.error)
        layout.addLayout(typed)
        self.ad_found.connect(self.announced, Qt.ConnectionType.QueuedConnection)
        self.ad_lost.connect(self.unannounced, Qt.ConnectionType.QueuedConnection)
        self._refresh()

    # What the rows are made of ------------------------------------------------------------

    def remembered(self, ad: ApplianceAd, paired_as: str | None) -> None:
        kept = self._rows.get(ad.id)
        on_lan = bool(kept and kept.on_lan)
        # While it is announced, the row keeps the announcement (its fingerprint, its addresses).
        self._rows[ad.id] = Row(kept.ad if kept and on_lan else ad, on_lan=on_lan, paired_as=paired_as)
        self._refresh()

    def announced(self, ad: ApplianceAd) -> None:
        kept = self._rows.get(ad.id)
        self._rows[ad.id] = Row(ad, on_lan=True, paired_as=kept.paired_as if kept else None)
        self._refresh()

    def identified(self, typed_id: str, ad: ApplianceAd) -> None:
        """A typed address turned out to be the appliance `ad.id`: one row, the announced one's
        when it is announced, in place of the typed one."""
        typed = self._rows.pop(typed_id, None)
        kept = self._rows.get(ad.id)
        on_lan = bool(kept and kept.on_lan)
        paired_as = (kept.paired_as if kept else None) or (typed.paired_as if typed else None)
        self._rows[ad.id] = Row(kept.ad if kept and on_lan else ad, on_lan=on_lan, paired_as=paired_as)
        self._refresh()

    def forgotten(self, appliance_id: str) -> None:
        """No longer paired: the row stays while the appliance is announced."""
        kept = self._rows.get(appliance_id)
        if kept is not None:
            self._rows[appliance_id] = replace(kept, paired_as=None, problem=None)
            if kept.on_lan:
                self._refresh()
            else:
                self.unannounced(appliance_id)

    def unannounced(self, appliance_id: str) -> None:
        kept = self._rows.get(appliance_id)
        if kept is None:
            return
        if kept.paired_as:
            self._rows[appliance_id] = replace(kept, on_lan=False)
        else:
            del self._rows[appliance_id]
        self._refresh()

    def unreachable(self, appliance_id: str, problem: str) -> None:
        kept = self._rows.get(appliance_id)
        if kept is not None:
            self._rows[appliance_id] = replace(kept, problem=problem)
            self._refresh()

    def rows(self) -> list[Row]:
        return sorted(self._rows.values(), key=lambda r: (r.paired_as is None, r.ad.name.lower()))

    # Widgets --------------------------------------------------------------------------------

    def _refresh(self) -> None:
        rows = self.rows()
        current = self.table.currentRow()
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            address = ", ".join(f"{a}:{row.ad.port}" for a in row.ad.addresses)
            cells = (row.ad.name, row.ad.version or "–", address, short_fingerprint(row.ad.fingerprint), row.status)
            tips = ("", "", "", grouped(row.ad.fingerprint or ""), row.problem or "")
            for column, (text, tip) in enumerate(zip(cells, tips, strict=True)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(index, column, item)
        self.empty.setVisible(not rows)
        if rows:
            self.table.setCurrentCell(min(max(current, 0), len(rows) - 1), 0)
        self._describe()

    def _describe(self) -> None:
        """The selected appliance in full: its whole fingerprint (to compare with the console's) and why
        it is unreachable, when it is."""
        rows, index = self.rows(), self.table.currentRow()
        if not 0 <= index < len(rows):
            self.details.setText("")
            return
        row = rows[index]
        lines = [f"<b>{html.escape(row.ad.name)}</b>: "
                 + (f"certificate fingerprint <code>{grouped(row.ad.fingerprint)}</code>" if row.ad.fingerprint
                    else "its certificate is fetched and shown when you open it")]
        if row.problem:
            lines.append(f"Unreachable: {html.escape(row.problem)}")
        self.details.setText("<br>".join(lines))

    def _add_typed(self) -> None:
        try:
            ad = manual_ad(self.address.text())
        except ClientError as exc:
            self.show_error(str(exc))
            return
        self.error.hide()
        self.address.clear()
        self._rows.setdefault(ad.id, Row(ad))
        self._refresh()
        self.chosen.emit(ad)

    def _open(self, index: int) -> None:
        rows = self.rows()
        if 0 <= index < len(rows):
            self.error.hide()
            self.chosen.emit(rows[index].ad)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
