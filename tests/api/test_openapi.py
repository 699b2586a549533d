"""/openapi.json lists every route, and the /docs page works offline (its assets are served here)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from appliance.api.app import public_api
from tests.conftest import Appliance

# The contract's routes (sections 3, 4 and 10), spelled as in the published document.
CONTRACT_ROUTES = {
    ("post", "/bots"), ("get", "/bots/status"),
    ("delete", "/bots/{platform}/{native_meeting_id}"), ("put", "/bots/{platform}/{native_meeting_id}/config"),
    ("get", "/meetings"), ("get", "/meetings/{meeting_id}"),
    ("patch", "/meetings/{platform}/{native_meeting_id}"), ("delete", "/meetings/{platform}/{native_meeting_id}"),
    ("get", "/transcripts/{platform}/{native_meeting_id}"),
    ("post", "/transcripts/{platform}/{native_meeting_id}/share"), ("get", "/public/transcripts/{share_id}.txt"),
    ("get", "/recordings"), ("get", "/recordings/{recording_id}"), ("delete", "/recordings/{recording_id}"),
    ("get", "/recordings/{recording_id}/media/{media_file_id}/raw"),
    ("put", "/user/webhook"), ("get", "/user/webhook/deliveries"),
    ("post", "/admin/users"), ("get", "/admin/users"), ("get", "/admin/users/{user_id}"),
    ("get", "/admin/users/email/{email}"), ("patch", "/admin/users/{user_id}"),
    ("post", "/admin/users/{user_id}/tokens"), ("delete", "/admin/tokens/{token_id}"),
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
    ("get", "/search"),  # issue 15, item 5
    ("get", "/tls"),  # issue 15, item 1
    ("post", "/devices/pair"), ("get", "/devices/pair/{request_id}"),  # issue 15, item 4
    ("get", "/devices"), ("delete", "/devices/{device_id}"),
    ("get", "/scheduled"), ("get", "/scheduled/{scheduled_id}"),  # issue 16, scheduling
    ("patch", "/scheduled/{scheduled_id}"), ("delete", "/scheduled/{scheduled_id}"),
    ("post", "/calendars"), ("get", "/calendars"), ("get", "/calendars/{connection_id}"),  # issue 16
    ("post", "/calendars/{connection_id}/test"), ("post", "/calendars/{connection_id}/sync"),
    ("patch", "/calendars/{connection_id}"), ("delete", "/calendars/{connection_id}"),
}


def operations(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_openapi_lists_every_route_with_its_security(appliance: Appliance) -> None:
    with httpx.Client(base_url=appliance.base_url) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    published = operations(document)
    assert CONTRACT_ROUTES <= published, sorted(CONTRACT_ROUTES - published)
    served = {
        (spec.method.lower(), re.sub(r"{(\w+)(:\w+)?}", r"{\1}", spec.path)) for spec in public_api().specs
    }
    assert published == served

    paths = document["paths"]
    assert paths["/bots"]["post"]["security"] == [{"ApiKey": []}]
    assert paths["/admin/users"]["post"]["security"] == [{"AdminApiKey": []}]
    assert paths["/public/transcripts/{share_id}.txt"]["get"]["security"] == []
    assert paths["/tls"]["get"]["security"] == []  # read before a client holds any key
    assert "id" in document["components"]["schemas"]["TlsCertificates"]["required"]  # the mDNS TXT's id
    assert paths["/devices/pair"]["post"]["security"] == []  # a device asks before it holds a key
    assert paths["/devices"]["get"]["security"] == [{"ApiKey": []}]
    assert {"201", "409", "422", "429", "401"} <= set(paths["/bots"]["post"]["responses"])
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["AdminApiKey"]["name"] == "X-Admin-API-Key"
    # Every schema reference resolves.
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', answer.text))
    assert refs and refs <= set(document["components"]["schemas"])
    bot_request = document["components"]["schemas"]["BotRequest"]["properties"]
    assert {"platform", "native_meeting_id", "meeting_url", "language", "task", "passcode"} <= set(bot_request)
    assert "join_at" in bot_request  # a bot for later (issue 16)


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


def test_the_docs_page_loads_with_every_asset_served_locally(appliance: Appliance) -> None:
    with httpx.Client(base_url=appliance.base_url) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        parser = _Assets()
        parser.feed(page.text)
        assert any(u.endswith(".css") for u in parser.urls)
        assert sum(u.endswith(".js") for u in parser.urls) >= 2
        for url in parser.urls:
            # Offline: nothing is fetched from another host.
            assert url.startswith("/"), url
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url
            kind = "css" if url.endswith(".css") else "javascript"
            assert kind in asset.headers["content-type"], (url, asset.headers["content-type"])
        bundle = client.get(next(u for u in parser.urls if "bundle" in u))
        assert len(bundle.content) > 100_000  # the real Swagger UI bundle, not a stub
        init = client.get(next(u for u in parser.urls if "init" in u)).text
        spec_url = re.search(r'url:\s*"([^"]+)"', init)
        assert spec_url is not None
        assert client.get(spec_url.group(1)).status_code == 200
