"""The console over HTTPS in real Chromium, trusting the box's own certificate by its key alone
(`--ignore-certificate-errors-spki-list`, which trusts exactly that key, not every certificate):
sign in, see the fingerprint on the System page, with Secure cookies; without the pin Chromium
refuses the page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Error, expect

from appliance.tls import fingerprint_of_pem, grouped, spki_sha256_base64
from tests.console.conftest import CHROMIUM_ARGS, PASSWORD
from tests.tls_helpers import TlsAppliance, start_tls_appliance


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsAppliance]:
    started = start_tls_appliance(tmp_path_factory.mktemp("https-console") / "data")
    yield started
    started.app.stop()


def _chromium(browser: Browser, *args: str) -> Iterator[Browser]:
    """A Chromium of its own (the pin is a launch switch), through the package's Playwright: a
    second sync_playwright() inside the one the console tests hold open is refused."""
    chromium = browser.browser_type.launch(executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, *args])
    try:
        yield chromium
    finally:
        chromium.close()


def test_chromium_pinning_the_boxs_key_signs_in_over_https(box: TlsAppliance, browser: Browser) -> None:
    pem = box.certificate_pem()
    printed = PASSWORD.search(box.app.log_path.read_text())
    assert printed, "serve printed no console password"
    pin = f"--ignore-certificate-errors-spki-list={spki_sha256_base64(pem)}"
    for pinned in _chromium(browser, pin):
        page = pinned.new_page()
        page.goto(f"{box.https_url}/ui/signin")
        page.fill("#username", "admin")
        page.fill("#password", printed.group(1))
        page.click("#panel-admin button[type=submit]")
        page.wait_for_url(f"{box.https_url}/ui")
        expect(page.locator("h1")).to_have_text("Dashboard")
        cookie = next(c for c in page.context.cookies() if c["name"] == "vomeet_console")
        assert cookie["secure"] and cookie["httpOnly"]
        page.goto(f"{box.https_url}/ui/admin/system")
        expect(page.locator("#tls-fingerprint")).to_contain_text(grouped(fingerprint_of_pem(pem)))
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: the long fingerprint wraps
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.close()


def test_chromium_without_the_pin_refuses_the_boxs_certificate(box: TlsAppliance, browser: Browser) -> None:
    for unpinned in _chromium(browser):
        page = unpinned.new_page()
        with pytest.raises(Error, match=re.compile("ERR_CERT_AUTHORITY_INVALID")):
            page.goto(f"{box.https_url}/ui/signin")
        page.close()
