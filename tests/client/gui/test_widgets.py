"""The transcript view and the other widgets' own behaviour, without an appliance: what a user
sees when segments arrive (partial apart from completed, a speaker's colour the same everywhere,
following the end unless scrolled up), the theme, and the banner where there is no tray."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from client.ui import theme
from client.ui.colours import speaker_colour
from client.ui.notifications import Banner, Notifier
from client.ui.search import snippet_html
from client.ui.transcript_view import TranscriptView


def segment(n: int, text: str, speaker: str = "Alice", completed: bool = True) -> dict[str, Any]:
    return {"segment_id": f"s{n}", "start": float(n), "end": n + 0.9, "text": text, "speaker": speaker,
            "completed": completed, "updated_at": f"2026-12-02T01:00:{n % 60:02d}Z"}


def style_of(view: TranscriptView, words: str) -> tuple[bool, str]:
    """(italic, colour) of `words` as drawn."""
    found = view.text.document().find(words)
    assert not found.isNull(), f"{words!r} is not shown: {view.text.toPlainText()!r}"
    shape = found.charFormat()
    return shape.fontItalic(), shape.foreground().color().name()


def test_partial_text_is_grey_italic_and_becomes_plain_when_completed(qtbot, qapp) -> None:
    theme.apply(qapp, theme.Theme.LIGHT)
    view = TranscriptView()
    qtbot.addWidget(view)
    view.upsert([segment(1, "Hello all.", completed=True), segment(2, "we should start", completed=False)])
    view.flush()
    assert style_of(view, "should start") == (True, theme.muted_colour(qapp))
    done = style_of(view, "Hello all")
    assert not done[0] and done[1] != theme.muted_colour(qapp)
    view.upsert([segment(2, "We should start with the budget.", completed=True)])  # same id: replaced
    view.flush()
    assert view.text.toPlainText().count("should start") == 1
    assert style_of(view, "should start") == done


def test_each_speaker_keeps_one_colour_and_the_name_is_shown_once_per_turn(qtbot, qapp) -> None:
    theme.apply(qapp, theme.Theme.DARK)
    view = TranscriptView()
    qtbot.addWidget(view)
    view.upsert([segment(1, "One.", "Alice"), segment(2, "Two.", "Alice"), segment(3, "Three.", "Bob")])
    view.flush()
    lines = view.text.toPlainText().splitlines()
    assert [line.split()[0] for line in lines if line.startswith(("Alice", "Bob"))] == ["Alice", "Bob"]
    html = view.text.toHtml()
    assert speaker_colour("Alice", dark=True) in html and speaker_colour("Bob", dark=True) in html
    assert speaker_colour("Alice", dark=True) == speaker_colour("Alice", dark=True)
    assert speaker_colour("Alice", dark=False) != speaker_colour("Alice", dark=True)  # a shade per theme


def test_it_follows_the_end_until_the_user_scrolls_up_then_offers_to_jump(qtbot, qapp) -> None:
    view = TranscriptView()
    view.resize(400, 200)
    qtbot.addWidget(view)
    view.show()
    view.upsert([segment(n, f"line {n} " * 8, "Alice" if n % 2 else "Bob") for n in range(60)])
    view.flush()
    bar = view.text.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == bar.maximum() and not view.jump.isVisible()

    bar.setValue(0)  # the user scrolls up to read
    assert not view.following and view.jump.isVisible()
    view.upsert([segment(n, f"more {n}") for n in range(60, 70)])
    view.flush()
    assert bar.value() == 0, "new text moved the view while the user was reading"

    qtbot.mouseClick(view.jump, Qt.MouseButton.LeftButton)
    view.upsert([segment(70, "the newest words")])
    view.flush()
    assert view.following and bar.value() == bar.maximum() and not view.jump.isVisible()


def test_opening_at_a_time_shows_that_segment_and_stops_following(qtbot, qapp) -> None:
    view = TranscriptView()
    view.resize(400, 200)
    qtbot.addWidget(view)
    view.show()
    view.upsert([segment(n, f"line {n} " * 8) for n in range(60)])
    view.scroll_to(10.0)
    bar = view.text.verticalScrollBar()
    assert not view.following and 0 < bar.value() < bar.maximum()


def test_themes_have_their_own_palettes(qapp) -> None:
    light = theme.palette_of(theme.Theme.LIGHT).color(QPalette.ColorRole.Window).lightness()
    dark = theme.palette_of(theme.Theme.DARK).color(QPalette.ColorRole.Window).lightness()
    assert light > 200 > 60 > dark
    assert theme.apply(qapp, theme.Theme.DARK) is theme.Theme.DARK and theme.is_dark(qapp)
    assert theme.resolve(theme.Theme.SYSTEM) in (theme.Theme.LIGHT, theme.Theme.DARK)


def test_without_a_tray_a_notice_is_a_banner_in_the_window(qtbot, qapp) -> None:
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show()
    banner.hide()
    notifier = Notifier(banner, qapp.windowIcon(), use_tray=False)
    notifier.notify("Weekly review", "The bot was admitted to the meeting and is transcribing.")
    assert banner.isVisible() and "admitted" in banner.label.text() and "Weekly review" in banner.label.text()
    assert notifier.history == [("Weekly review", "The bot was admitted to the meeting and is transcribing.")]


def test_search_snippets_bold_the_matches_and_escape_the_rest() -> None:
    assert snippet_html("the **budget** <review>") == "the <b>budget</b> &lt;review&gt;"


def test_a_background_call_runs_off_the_gui_thread_and_answers_on_it(qtbot, qapp) -> None:
    import threading

    from PySide6.QtCore import QThread

    from client.ui import tasks

    seen: list[tuple[str, bool]] = []
    failures: list[Exception] = []
    tasks.run(lambda: threading.current_thread().name,
              lambda name: seen.append((name, QThread.currentThread() is qapp.thread())), failures.append)
    tasks.run(lambda: 1 // 0, lambda _: None, failures.append)
    qtbot.waitUntil(lambda: bool(seen) and bool(failures) and tasks.pending() == 0, timeout=10_000)
    ran_on, answered_on_gui = seen[0]
    assert ran_on != threading.main_thread().name and answered_on_gui
    assert isinstance(failures[0], ZeroDivisionError)


def test_the_theme_picked_in_the_menu_is_applied_and_remembered(qtbot, qapp, tmp_path) -> None:
    from client.store import ClientStore
    from client.ui.window import MainWindow

    store = ClientStore(tmp_path, use_keyring=False)
    window = MainWindow(store, "0.1.0-test", use_tray=False, discover=False)
    qtbot.addWidget(window)
    theme.apply(qapp, theme.Theme.LIGHT)
    window.theme_actions[theme.Theme.DARK].trigger()
    assert theme.is_dark(qapp) and qapp.palette().color(QPalette.ColorRole.Window).lightness() < 60
    again = MainWindow(store, "0.1.0-test", use_tray=False, discover=False)  # the next start
    qtbot.addWidget(again)
    assert again.theme_actions[theme.Theme.DARK].isChecked()
    assert not again.theme_actions[theme.Theme.SYSTEM].isChecked()


def test_forgetting_an_appliance_drops_its_pin_and_token(qtbot, qapp, tmp_path) -> None:
    from client.store import ClientStore, RememberedAppliance
    from client.ui.window import MainWindow

    store = ClientStore(tmp_path, use_keyring=False)
    store.remember(RememberedAppliance(id="box-1", name="Front desk", addresses=("192.0.2.7",), port=8056,
                                       pins=("-----BEGIN CERTIFICATE-----",), user="ann@example.com"))
    store.set_token("box-1", "vmt_secret")
    window = MainWindow(store, "0.1.0-test", use_tray=False, discover=False)
    qtbot.addWidget(window)
    assert [(r.ad.name, r.status) for r in window.appliances.rows()] == [
        ("Front desk", "Paired as ann@example.com (not announced now)")]
    window.appliances.table.selectRow(0)
    window.forget_selected()
    assert store.get("box-1") is None and store.token("box-1") is None
    assert window.appliances.rows() == []  # not announced either: nothing left to show


def test_a_live_feed_that_drops_is_said_under_the_transcript_until_it_is_back(qtbot, qapp) -> None:
    from client.ui.meeting_view import MeetingView

    view = MeetingView()
    qtbot.addWidget(view)
    view.show_meeting({"id": 5, "platform": "google_meet", "native_meeting_id": "abc-defg-hij", "status": "active"})
    view.feed_state(6, "reconnecting", "another meeting's feed")
    assert view.message.text() == ""
    view.feed_state(5, "reconnecting", "the appliance is unreachable (ConnectError)")
    assert view.message.text() == "Live transcript reconnecting: the appliance is unreachable (ConnectError)"
    view.feed_state(5, "live", "")
    assert view.message.text() == ""
    view.feed_state(5, "stopped", "this device was revoked; pair it again: pair this device again")
    assert "stopped" in view.message.text() and "pair" in view.message.text()
