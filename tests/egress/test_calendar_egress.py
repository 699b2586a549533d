"""Calendar providers are contacted only once a connection is configured (docs/egress.md).

The appliance runs traced (tests/egress/recorder.py) with its Google Calendar endpoints set to the
Google test double on loopback (tests/calendars/providers/google_double.py) and a Google OAuth
client configured. Until a user connects a calendar, the box contacts nothing but its own API, and
the worker's `calendars.sync` pass has run (its log says so) without touching the provider. Once
the user connects Google and syncs, the provider's host is the one destination added; no name is
looked up at any point (every address is literal).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.calendars.providers.google_double import GoogleDouble
from tests.conftest import Appliance, appliance_env, free_port, wait_until
from tests.egress import recorder
from tests.egress.recorder import Destination

pytestmark = pytest.mark.slow
SYNC_DONE = re.compile(r"appliance\.tasks\.calendars\.sync: \S+ executed in")


def test_the_calendar_provider_is_contacted_only_once_a_connection_exists(tmp_path: Path) -> None:
    recorder.require_tracer()
    google = GoogleDouble().start()
    log = tmp_path / "egress.log"
    port = free_port()
    (tmp_path / "google-secret").write_text(google.client_secret)
    env = appliance_env(tmp_path / "data", port, calendar_google_api_url=google.api_url,
                        calendar_google_token_url=google.token_url, calendar_google_client_id=google.client_id,
                        calendar_google_client_secret_file=str(tmp_path / "google-secret"))
    assert google.served is not None
    provider = Destination("127.0.0.1", google.served.port, "tcp")
    own_api = Destination("127.0.0.1", port, "tcp")
    app = Appliance(tmp_path / "data", env, port, launcher=recorder.command(log)).start()
    try:
        worker_log = tmp_path / "data" / "logs" / "worker.log"
        wait_until(lambda: worker_log.exists() and SYNC_DONE.search(worker_log.read_text(errors="replace")),
                   60, 0.2, "the worker's calendars.sync pass")
        before = recorder.read(log)
        assert set(before.destinations) <= {own_api}, before.report()
        assert google.requests == [] and google.token_requests == []

        _, token = app.new_user("egress-calendar@example.com")
        google.put("egress-calendar@example.com", {
            "id": "standup", "status": "confirmed", "iCalUID": "standup@google.com", "summary": "Standup",
            "start": {"dateTime": "2030-01-07T10:00:00Z"}, "end": {"dateTime": "2030-01-07T10:15:00Z"}})
        refresh_token = google.issue_refresh_token("egress-calendar@example.com")
        with app.client(token) as client:
            made = client.post("/calendars/google", json={"refresh_token": refresh_token})
            assert made.status_code == 201, made.text
            assert client.post(f"/calendars/{made.json()['id']}/sync").status_code == 200
        assert google.requests, "the box did not read the calendar"
    finally:
        if app.process is not None and app.process.poll() is None:
            app.stop()
        google.stop()
    recorder.wait_done(log)
    egress = recorder.read(log)
    print(f"\n--- egress with a Google calendar connected ---\n{egress.report()}")
    # The API process read the calendar (the connection's first read, then sync now); its own
    # port may be dialled by the other processes of the box.
    assert set(egress.destinations) - {own_api} == {provider}, egress.report()
    assert "python3 -m appliance serve" in egress.destinations[provider], egress.report()
    assert not egress.lookups and not egress.resolver_sockets, egress.report()
