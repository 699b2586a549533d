"""The console's Calendars and Upcoming pages in a real Chromium, against a real appliance whose
Microsoft and Google endpoints point at their test doubles (tests/calendars/providers/)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.calendars.providers.google_double import GoogleDouble
from tests.calendars.providers.microsoft_double import GraphDouble
from tests.calendars.providers.test_microsoft import event
from tests.conftest import HangingMeetingHost
from tests.console.conftest import Console, sign_in, start_console

MEET = "https://meet.google.com/cal-endr-pgs"


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphDouble]:
    double = GraphDouble(interval_s=1).start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleDouble]:
    double = GoogleDouble().start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def calendar_console(tmp_path_factory: pytest.TempPathFactory, hanging_host: HangingMeetingHost,
                     graph: GraphDouble, google: GoogleDouble) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("calendar-console")
    secret = root / "google-client-secret"
    secret.write_text(google.client_secret)
    started = start_console(
        root / "data", hanging_host, calendar_microsoft_graph_url=graph.graph_url,
        calendar_microsoft_login_url=graph.base_url, calendar_microsoft_client_id=graph.client_id,
        calendar_microsoft_tenant=graph.tenant, calendar_google_api_url=google.api_url,
        calendar_google_token_url=google.token_url, calendar_google_client_id=google.client_id,
        calendar_google_client_secret_file=str(secret))
    yield started
    if started.app.process and started.app.process.poll() is None:
        started.app.stop()


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_user_connects_microsoft_with_a_code_sets_rules_and_overrides_a_meeting(
        calendar_console: Console, graph: GraphDouble, browser) -> None:  # noqa: ANN001
    email = "calendar-user@contoso.example"
    _, key = calendar_console.app.new_user(email)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    graph.put(email, event("design-review", _graph_time(start), _graph_time(start + timedelta(hours=1)),
                           subject="Design review", onlineMeeting={"joinUrl": MEET},
                           responseStatus={"response": "tentativelyAccepted"}))
    page = browser.new_page()
    try:
        sign_in(page, calendar_console, api_key=key)
        page.click("nav.main a:has-text('Calendars')")
        page.click("#connect-microsoft button[type=submit]")
        code = page.text_content("#user-code")
        assert code and code.strip() in {s["user_code"] for s in graph.device_codes.values()}
        assert "https://microsoft.com/devicelogin" in page.text_content("#device-flow")

        graph.approve(code.strip(), email)  # the person approves on their phone
        page.wait_for_selector(".calendar-list tr:has-text('Microsoft 365')", timeout=30_000)
        row = page.locator(".calendar-list tbody tr").first
        assert "microsoft" in row.text_content() and "1 upcoming" in row.text_content()
        assert "M.R3_" not in page.content()  # no refresh token in the page

        row.locator("select[name=mode]").select_option("accepted")
        row.locator("button:has-text('Save rules')").click()
        assert "saved" in page.text_content(".flash")
        assert page.locator(".calendar-list select[name=mode]").first.input_value() == "accepted"
        page.locator(".calendar-list button:has-text('Test')").first.click()
        assert page.text_content(".flash").strip() == "The calendar answered."

        page.click("nav.main a:has-text('Upcoming')")
        upcoming = page.locator("#upcoming-list tbody tr:has-text('Design review')")
        assert "no bot" in upcoming.text_content() and "not accepted" in upcoming.text_content()
        upcoming.locator("select[name=override]").select_option("join")
        upcoming.locator("button:has-text('Save')").click()
        assert page.text_content(".flash").strip() == "A bot will join."
        upcoming = page.locator("#upcoming-list tbody tr:has-text('Design review')")
        assert "joins" in upcoming.text_content()
        assert upcoming.locator("select[name=override]").input_value() == "join"

        graph.delete(email, "design-review")  # (the next test reads every user's calendar)
        page.click("nav.main a:has-text('Calendars')")
        page.locator(".calendar-list button:has-text('Delete')").first.click()
        assert "Disconnected" in page.text_content(".flash")
        assert page.locator(".calendar-list").count() == 0
    finally:
        page.close()


def test_an_administrator_gives_organisation_wide_access_and_sees_no_secret(
        calendar_console: Console, graph: GraphDouble, browser, tmp_path: Path) -> None:  # noqa: ANN001
    email = "org-user@contoso.example"
    user_id, _ = calendar_console.app.new_user(email)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    graph.put(email, event("all-hands", _graph_time(start), _graph_time(start + timedelta(hours=1)),
                           subject="All hands", onlineMeeting={"joinUrl": "https://meet.google.com/all-hand-smt"}))
    page = browser.new_page()
    try:
        sign_in(page, calendar_console)
        page.goto(f"{calendar_console.url}/calendars")
        form = page.locator("#connect-m365-app")
        form.locator("[name=tenant]").fill(graph.tenant)
        form.locator("[name=client_id]").fill(graph.app_id)
        form.locator("[name=client_secret]").fill(graph.app_secret)
        form.locator("button[type=submit]").click()
        assert "for every user" in page.text_content(".flash")
        listed = page.locator(".calendar-list tbody tr:has-text('Microsoft 365 (every user)')")
        assert graph.app_id in listed.text_content()
        assert graph.app_secret not in page.content()

        page.goto(f"{calendar_console.url}/upcoming?user_id={user_id}")
        assert "All hands" in page.text_content("#upcoming-list")
    finally:
        page.close()
