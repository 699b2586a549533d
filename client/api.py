"""The REST calls the windows make, over the pinned connection with the device token.

    api = ApplianceClient(remembered, token, locate=browser.find, on_change=store.remember)
    api.meetings(); api.send_bot("https://meet.google.com/abc-defg-hij"); api.search("budget")

Every call raises `ClientError` with a message a person can act on: the appliance is
unreachable, this device was revoked (pair it again), the certificate changed, or the
appliance's own `detail` for a refused request. When the appliance's address stops answering,
the client tries its other known addresses and then asks `locate(appliance_id)` (the live mDNS
results) for where it is now, retries there, and reports the move through `on_change` so the
store remembers it. `learn_rotation()` reads `GET /tls` and keeps the staged next certificate
pinned beside the current one (also reported through `on_change`).

Share links: the appliance has them (`POST /transcripts/.../share`, a public link to the text);
`console_meeting_url` is the console's page of the meeting, for people who have an account.
Export uses the appliance's own `format=txt|srt|vtt|json`: the client converts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from client.discovery import ApplianceAd, url_for
from client.errors import ClientError, ErrorKind
from client.store import RememberedAppliance
from client.transport import detail_of, json_of, send, too_many
from client.trust import pinned_context, pins_from_tls

TIMEOUT_S = 15.0
EXPORT_FORMATS = ("txt", "srt", "vtt", "json")
TERMINAL = ("completed", "failed")
OVERRIDES = ("join", "skip", None)  # PATCH /scheduled/{id}: None follows the rules


class ApplianceClient:
    def __init__(
        self,
        appliance: RememberedAppliance,
        token: str,
        locate: Callable[[str], ApplianceAd | None] | None = None,
        on_change: Callable[[RememberedAppliance], None] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.appliance = appliance
        self._token = token
        self._locate = locate
        self._on_change = on_change
        self._timeout_s = timeout_s
        self._address = appliance.addresses[0]
        self._http = self._connect(self._address)

    # --- where the appliance is -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return url_for("https", self._address, self.appliance.port, self.appliance.api_path)

    @property
    def ws_url(self) -> str:
        return url_for("wss", self._address, self.appliance.port, self.appliance.api_path.rstrip("/") + "/ws")

    @property
    def token(self) -> str:
        return self._token

    def close(self) -> None:
        self._http.close()

    # --- meetings and bots ----------------------------------------------------------------------
    def meetings(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit} | ({"status": status} if status else {})
        return list(self._json("GET", "/meetings", "listing your meetings", params=params)["meetings"])

    def meeting(self, meeting_id: int) -> dict[str, Any]:
        return self._json("GET", f"/meetings/{meeting_id}", "reading the meeting")

    def running_bots(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/bots/status", "reading your bots")["running_bots"])

    def send_bot(self, meeting_url: str, bot_name: str | None = None, language: str | None = None) -> dict[str, Any]:
        """`POST /bots` with a Meet, Teams or Zoom link; the appliance parses it (a 422 says why not)."""
        body: dict[str, Any] = {"meeting_url": meeting_url.strip()}
        if bot_name:
            body["bot_name"] = bot_name
        if language:
            body["language"] = language
        return self._json("POST", "/bots", "sending a bot", expected=201, json=body)

    def stop_bot(self, platform: str, native_meeting_id: str) -> str:
        return str(self._json("DELETE", f"/bots/{platform}/{_seg(native_meeting_id)}", "stopping the bot",
                              expected=202).get("message", ""))

    # --- transcripts --------------------------------------------------------------------------
    def transcript(self, platform: str, native_meeting_id: str, meeting_id: int | None = None) -> dict[str, Any]:
        return self._json("GET", f"/transcripts/{platform}/{_seg(native_meeting_id)}", "reading the transcript",
                          params=_meeting(meeting_id))

    def export(self, platform: str, native_meeting_id: str, fmt: str, meeting_id: int | None = None) -> str:
        """The transcript as the appliance renders it: txt, srt, vtt or json (indented)."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        answer = self._send("GET", f"/transcripts/{platform}/{_seg(native_meeting_id)}",
                            params={"format": fmt} | _meeting(meeting_id))
        self._check(answer, 200, "exporting the transcript")
        return json.dumps(answer.json(), indent=2, ensure_ascii=False) if fmt == "json" else answer.text

    def share_link(self, platform: str, native_meeting_id: str, ttl_seconds: int | None = None) -> dict[str, Any]:
        """A public link to the transcript's text: `{url, expires_at, reachable_from, ...}`."""
        body = {"ttl_seconds": ttl_seconds} if ttl_seconds else {}
        return self._json("POST", f"/transcripts/{platform}/{_seg(native_meeting_id)}/share",
                          "making a share link", expected=200, json=body)

    def console_meeting_url(self, meeting_id: int) -> str:
        """The console's page of the meeting (for colleagues with a console account)."""
        return url_for("https", self._address, self.appliance.port, f"{self.appliance.ui_path.rstrip('/')}/meetings/"
                    f"{meeting_id}")

    def search(self, query: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """`GET /search`: matching segments of the user's own meetings, with `snippet`s."""
        return list(self._json("GET", "/search", "searching", params={"q": query, "limit": limit,
                                                                       "offset": offset})["results"])

    def set_override(self, scheduled_id: int, override: str | None) -> dict[str, Any]:
        """`PATCH /scheduled/{id}` with `override`: this user's own choice for one scheduled meeting,
        `join`, `skip`, or None to follow the rules (on a shared meeting, only this user's; the
        bot joins if any reader's decision is to join). The updated scheduled meeting; a 409 once
        it launched or was cancelled is a ClientError with the appliance's reason."""
        if override not in OVERRIDES:
            raise ValueError(f"override must be one of {OVERRIDES}")
        return self._json("PATCH", f"/scheduled/{scheduled_id}", "changing your choice for this meeting",
                          json={"override": override})

    def upcoming(self) -> list[dict[str, Any]] | None:
        """`GET /scheduled`: the user's upcoming scheduled meetings (from calendars, or a bot sent
        with `join_at`), soonest first; None from an appliance that does not schedule (404)."""
        answer = self._send("GET", "/scheduled")
        if answer.status_code == 404:
            return None
        self._check(answer, 200, "reading your scheduled meetings")
        return list(json_of(answer, 200, "reading your scheduled meetings").get("scheduled", []))

    # --- calendars ------------------------------------------------------------------------------
    def calendars(self) -> list[dict[str, Any]]:
        """`GET /calendars`: the user's calendar connections (kind, last and next sync, last error)."""
        return list(self._json("GET", "/calendars", "listing your calendars")["calendars"])

    def google_client(self) -> dict[str, Any]:
        """`GET /calendars/google/client`: the box's Google OAuth client and authorisation URL."""
        return self._json("GET", "/calendars/google/client", "reading the box's Google sign-in settings")

    def connect_google(self, code: str, code_verifier: str, redirect_uri: str) -> dict[str, Any]:
        """`POST /calendars/google`: hand the box the code the loopback redirect got."""
        body = {"code": code, "code_verifier": code_verifier, "redirect_uri": redirect_uri}
        return self._json("POST", "/calendars/google", "connecting the Google calendar", expected=201, json=body)

    # --- trust ----------------------------------------------------------------------------------
    def learn_rotation(self) -> list[str]:
        """Read `GET /tls` over the pinned connection; pin its current and next certificates."""
        pins = pins_from_tls(self._json("GET", "/tls", "reading the appliance's certificates"))
        if pins != list(self.appliance.pins):
            self._changed(self.appliance.repinned(pins))
            self._http.close()
            self._http = self._connect(self._address)
        return pins

    # --- plumbing -------------------------------------------------------------------------------
    def _connect(self, address: str) -> httpx.Client:
        return httpx.Client(
            base_url=url_for("https", address, self.appliance.port, self.appliance.api_path),
            verify=pinned_context(self.appliance.pins), timeout=self._timeout_s,
            headers={"X-API-Key": self._token},
        )

    def _json(self, method: str, path: str, doing: str, expected: int = 200, **kwargs: Any) -> dict[str, Any]:
        answer = self._send(method, path, **kwargs)
        self._check(answer, expected, doing)
        return json_of(answer, expected, doing)

    def _check(self, answer: httpx.Response, expected: int, doing: str) -> None:
        if answer.status_code == 401:
            # A revoked device's detail says so ("this device was revoked; pair it again").
            detail = detail_of(answer)
            message = detail if "pair" in detail else f"the appliance refused this device ({detail}): pair it again"
            raise ClientError(ErrorKind.REVOKED, message, 401)
        if answer.status_code == 429:
            raise too_many(answer, "requests")
        if answer.status_code != expected:
            raise ClientError(ErrorKind.REFUSED, f"{doing} failed: {detail_of(answer)}", answer.status_code)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send at the current address; when no connection could be made there (refused, timed
        out, or another certificate: a DHCP lease now someone else's), follow the appliance.
        A request that did reach it is never sent twice."""
        try:
            return send(self._http, method, path, **kwargs)
        except ClientError as failure:
            if not _never_sent(failure):
                raise
            for address in self._elsewhere():
                candidate = self._connect(address)
                try:
                    answer = send(candidate, method, path, **kwargs)
                except ClientError as again:
                    candidate.close()
                    if not _never_sent(again):
                        raise
                    continue
                self._move_to(address, candidate)
                return answer
            if failure.kind is ErrorKind.CERTIFICATE_CHANGED:
                raise
            raise ClientError(ErrorKind.UNREACHABLE, f"the appliance {self.appliance.name} is unreachable at "
                              f"{', '.join(self.appliance.addresses)}, and it is not announcing itself on this "
                              "network; check that it is on and that this computer is on its network") from failure

    def _elsewhere(self) -> list[str]:
        """Addresses to try: the other known ones, then where mDNS says it is now."""
        tried = [self._address]
        others = [a for a in self.appliance.addresses if a not in tried]
        found = self._locate(self.appliance.id) if self._locate is not None else None
        if found is not None:
            others += [a for a in found.addresses if a not in others and a not in tried]
        return others

    def _move_to(self, address: str, http: httpx.Client) -> None:
        self._http.close()
        self._http, self._address = http, address
        found = self._locate(self.appliance.id) if self._locate is not None else None
        addresses = (address, *[a for a in (found.addresses if found else self.appliance.addresses) if a != address])
        self._changed(self.appliance.moved(addresses))

    def _changed(self, appliance: RememberedAppliance) -> None:
        self.appliance = appliance
        if self._on_change is not None:
            self._on_change(appliance)


def _never_sent(failure: ClientError) -> bool:
    """No connection was made, so the request can go to another address."""
    return failure.kind in (ErrorKind.UNREACHABLE, ErrorKind.CERTIFICATE_CHANGED) and isinstance(
        failure.__cause__, (httpx.ConnectError, httpx.ConnectTimeout)
    )


def _meeting(meeting_id: int | None) -> dict[str, Any]:
    return {"meeting_id": meeting_id} if meeting_id is not None else {}


def _seg(value: str) -> str:
    return quote(value, safe="")

