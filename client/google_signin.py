"""Google Calendar sign-in done by the user's own machine (docs/calendars.md, "Why these sign-in
flows"): Google's installed-app loopback flow with PKCE, the code then handed to the box.

    connection = sign_in_with_google(api)          # opens the system browser

1. `GET /calendars/google/client` gives the box's OAuth client id and Google's authorisation URL.
2. A PKCE verifier and its S256 challenge are made, and a one-shot HTTP server listens on
   `http://127.0.0.1:<free port>/` for Google's redirect.
3. The authorisation URL is opened (`webbrowser` by default; the GUI passes QDesktopServices, a
   test plays the browser itself); the person consents at Google.
4. The redirect brings `code` and `state`; a state other than the one sent is refused (another
   page's request, not this sign-in's answer). The tab is told it can be closed.
5. `POST /calendars/google` hands the box the code with the verifier and the redirect URI; the
   box exchanges it and keeps only the refresh token. The answer is the new connection.

Every failure is a `ClientError` whose message says what happened: Google's denial, a state
mismatch, no answer in time.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from client.api import ApplianceClient
from client.errors import ClientError, ErrorKind

TIMEOUT_S = 300.0  # time for a person to sign in and consent
Opener = Callable[[str], Any]


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def new_pkce() -> Pkce:
    """RFC 7636: a 43-character verifier from 32 random bytes, and its S256 challenge (the box
    only exchanges the code: making the pair is the user's machine's part)."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def authorisation_url(client: dict[str, Any], redirect_uri: str, state: str, pkce: Pkce) -> str:
    # access_type=offline with prompt=consent: Google gives a refresh token, which the box needs.
    query = {"client_id": client["client_id"], "redirect_uri": redirect_uri, "response_type": "code",
             "scope": client["scope"], "state": state, "code_challenge": pkce.challenge,
             "code_challenge_method": "S256", "access_type": "offline", "prompt": "consent"}
    return f"{client['authorization_url']}?{urlencode(query)}"


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vomeet</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


class LoopbackRedirect:
    """A one-shot HTTP server on 127.0.0.1 that takes Google's redirect for one `state`."""

    def __init__(self, state: str) -> None:
        self._state = state
        self._done = threading.Event()
        self.code: str | None = None
        self.error: str | None = None
        self._server = HTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="google-redirect")
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def wait(self, timeout_s: float) -> str:
        """The code, once the redirect came; a `ClientError` for a denial, a wrong state, no answer."""
        if not self._done.wait(timeout_s):
            raise ClientError(ErrorKind.REFUSED, f"Google's sign-in got no answer within {timeout_s:.0f} s: "
                              "sign in again and finish in the browser window that opens")
        if self.error is not None:
            raise ClientError(ErrorKind.REFUSED, self.error)
        assert self.code is not None
        return self.code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _take(self, query: dict[str, list[str]]) -> tuple[int, str, str]:
        """What the redirect said: (HTTP status, page title, page text) for the browser."""
        state, code, error = (query.get(k, [None])[0] for k in ("state", "code", "error"))
        if state != self._state:
            self.error = ("Google's answer did not carry this sign-in's state (another page's request, or an "
                          "old sign-in's): refused; sign in again")
            return 400, "Sign-in refused", "This answer is not for the sign-in the Vomeet client started."
        if error or not code:
            reason = "you declined access" if error == "access_denied" else f"Google said {error or 'no code'}"
            self.error = f"Google's sign-in did not give access to your calendar: {reason}"
            return 200, "Calendar not connected", f"{reason.capitalize()}. You can close this tab."
        self.code = code
        return 200, "Signed in", "Vomeet is connecting your Google calendar. You can close this tab."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        redirect = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                # The browser's own extra requests (a favicon) are not the redirect.
                if parts.path != "/" or redirect._done.is_set() or not ({"state", "code", "error"} & query.keys()):
                    self.send_error(404)
                    return
                status, title, text = redirect._take(query)
                page = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                redirect._done.set()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
                return  # the code is in the request line: nothing is logged

        return Handler


def sign_in_with_google(api: ApplianceClient, open_browser: Opener = webbrowser.open,
                        timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Run the whole flow and return the new connection (the box's `CalendarOut`)."""
    client = api.google_client()
    pkce, state = new_pkce(), secrets.token_urlsafe(16)
    redirect = LoopbackRedirect(state)
    try:
        open_browser(authorisation_url(client, redirect.redirect_uri, state, pkce))
        code = redirect.wait(timeout_s)
    finally:
        redirect.close()
    return api.connect_google(code, pkce.verifier, redirect.redirect_uri)
