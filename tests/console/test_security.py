"""Sign-in, lockout, CSRF and what each kind of viewer may reach, on a real appliance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import HangingMeetingHost
from tests.console.conftest import Console, csrf_of, sign_in, start_console


def test_admin_signs_in_and_out_in_the_browser(console: Console, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(console.app.base_url + "/")
    expect(page).to_have_url(f"{console.url}/signin?next=/ui")  # / leads to the console
    page.fill("#password", "not the password")
    page.click("#panel-admin button[type=submit]")
    expect(page.locator("#signin-error")).to_have_text("Wrong name or password.")
    sign_in(page, console)
    expect(page.locator("h1")).to_have_text("Dashboard")
    cookie = next(c for c in page.context.cookies() if c["name"] == "vomeet_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("text=Sign out")
    expect(page).to_have_url(f"{console.url}/signin")
    page.goto(f"{console.url}/meetings")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.close()


def test_repeated_failures_lock_the_account_and_the_address(
    tmp_path: Path, hanging_host: HangingMeetingHost
) -> None:
    locked = start_console(tmp_path / "data", hanging_host)
    try:
        with httpx.Client(base_url=locked.app.base_url, timeout=30) as client:
            token = csrf_of(client.get("/ui/signin").text)
            for _ in range(5):
                wrong = client.post("/ui/signin", data={"csrf_token": token, "kind": "admin",
                                                        "username": "admin", "password": "guess-guess"})
                assert wrong.status_code == 401
            right = client.post("/ui/signin", data={"csrf_token": token, "kind": "admin",
                                                    "username": "admin", "password": locked.password})
            assert right.status_code == 429 and "Try again in 15 minutes" in right.text
            # The address is locked too: an API key from here is not even looked at.
            _, key = locked.app.new_user("locked@example.com")
            by_key = client.post("/ui/signin", data={"csrf_token": token, "kind": "key", "api_key": key})
            assert by_key.status_code == 429
    finally:
        locked.app.stop()


def test_posts_without_the_csrf_token_are_refused(console: Console) -> None:
    with console.signed_in() as admin:
        user = admin.post("/ui/admin/users", data={"email": "nocsrf@example.com"})
        assert user.status_code == 403 and "CSRF" in user.text
        forged = admin.post("/ui/admin/users", data={"email": "nocsrf@example.com", "csrf_token": "forged"})
        assert forged.status_code == 403
        assert "nocsrf@example.com" not in admin.get("/ui/admin/users").text
        assert admin.post("/ui/send", data={"meeting_url": "https://meet.google.com/abc-defg-hij"}).status_code == 403
    with httpx.Client(base_url=console.app.base_url) as anonymous:
        assert anonymous.post("/ui/signin", data={"kind": "admin", "username": "admin",
                                                  "password": console.password}).status_code == 403


def test_a_user_sees_only_their_own(console: Console) -> None:
    alice_id, alice_key = console.app.new_user("alice@example.com")
    _, bob_key = console.app.new_user("bob@example.com")
    with console.app.client(bob_key) as bob_api:
        bobs = bob_api.post("/bots", json={"meeting_url": "https://meet.google.com/bob-meet-ing"}).json()
        bob_api.delete("/bots/google_meet/bob-meet-ing")
    with console.signed_in(api_key=alice_key) as alice:
        for admin_page in ("/ui/admin/users", "/ui/admin/system", f"/ui/admin/users/{alice_id}",
                           "/ui/admin/system/backup"):
            assert alice.get(admin_page).status_code == 403, admin_page
        assert alice.get(f"/ui/meetings/{bobs['id']}").status_code == 404
        assert alice.get(f"/ui/meetings/{bobs['id']}/export/txt").status_code == 404
        assert "bob-meet-ing" not in alice.get("/ui/meetings").text
        refused = alice.post(f"/ui/meetings/{bobs['id']}/delete",
                             data={"csrf_token": csrf_of(alice.get("/ui/send").text)})
        assert refused.status_code == 303  # back with an error; the meeting is still there
        assert "bob@example.com" not in alice.get(f"/ui/webhooks?user_id={bobs['user_id']}").text
        token = csrf_of(alice.get("/ui/send").text)
        hijack = alice.post(f"/ui/webhooks/{bobs['user_id']}", follow_redirects=True,
                            data={"csrf_token": token, "webhook_url": "http://10.0.0.9/steal"})
        assert "There is no such user for you to change." in hijack.text
    with console.app.client(bob_key) as bob_api:
        assert bob_api.get(f"/meetings/{bobs['id']}").status_code == 200


def test_revoking_the_key_ends_the_users_console_session(console: Console) -> None:
    _, key = console.app.new_user("revoked@example.com")
    with console.signed_in(api_key=key) as user:
        assert user.get("/ui/meetings").status_code == 200
        with console.app.admin() as admin:
            detail = admin.get("/admin/users/email/revoked@example.com").json()
            assert admin.delete(f"/admin/tokens/{detail['tokens'][0]['id']}").status_code == 204
        assert user.get("/ui/meetings").status_code == 303  # back to the sign-in page


def test_live_socket_takes_the_session_cookie_from_this_site_only(console: Console) -> None:
    _, key = console.app.new_user("socket@example.com")
    with console.app.client(key) as api:
        meeting = api.post("/bots", json={"meeting_url": "https://meet.google.com/soc-kets-ess"}).json()
        api.delete("/bots/google_meet/soc-kets-ess")
    url = f"ws://127.0.0.1:{console.app.port}/ws?meeting_id={meeting['id']}"
    subscribe = json.dumps({"action": "subscribe", "meetings": [{"meeting_id": meeting["id"]}]})
    for client in (console.signed_in(), console.signed_in(api_key=key)):
        with client as signed_in:
            cookie = f"vomeet_console={signed_in.cookies['vomeet_console']}"
            own = {"Cookie": cookie, "Origin": console.app.base_url}
            with connect(url, additional_headers=own) as ws:
                ws.send(subscribe)
                assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            foreign = {"Cookie": cookie, "Origin": "http://evil.example"}
            with connect(url, additional_headers=foreign) as ws, pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_an_administrator_changes_their_password(console: Console) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "appliance", "admin", "set-password", "--username", "ops",
         "--password", "first password here"],
        env=console.app.env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert created.returncode == 0, created.stderr
    with console.signed_in(username="ops", password="first password here") as elsewhere, \
            console.signed_in(username="ops", password="first password here") as ops:
        form = ops.get("/ui/account")
        assert "administrator <strong>ops</strong>" in form.text
        token = csrf_of(form.text)
        wrong = ops.post("/ui/account/password", follow_redirects=True, data={
            "csrf_token": token, "current": "not it at all", "new": "second password", "confirm": "second password"})
        assert "The current password is wrong." in wrong.text
        changed = ops.post("/ui/account/password", follow_redirects=True, data={
            "csrf_token": token, "current": "first password here", "new": "second password",
            "confirm": "second password"})
        assert "Password changed. 1 other session signed out." in changed.text
        assert elsewhere.get("/ui/account").status_code == 303  # that browser was signed out
        assert ops.get("/ui/account").status_code == 200
    with console.signed_in(username="ops", password="second password") as again:
        assert again.get("/ui/account").status_code == 200
