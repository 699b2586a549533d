"""Schemathesis over the real appliance's /openapi.json (issue 12): no 5xx, every response in its
documented status codes, content type and schema, and authentication enforced wherever the
document says.

The appliance is this module's own (the fuzzer creates users, revokes tokens and launches bots,
which must not leak into other tests): a real `vomeet serve` on loopback with a real SQLite file,
the ASR off, and meeting hosts that never answer, so that a bot the fuzzer launches stays in
`joining` until it is stopped. Every operation is fuzzed with the key its security names: user
routes with a user's key, admin routes with the admin key, bot routes with a live bot's token.
No operation is left out.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from appliance.api.app import public_api
from appliance.api.openapi import build_openapi
from tests.conftest import Appliance, HangingMeetingHost, bot_token_of, hanging_appliance, wait_until

pytestmark = pytest.mark.slow

# Per operation: enough to reach the success, not-found and validation branches of each (a run
# of 150 found nothing more than 25 did); the whole file takes about a minute here.
MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance, ignored_auth,
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
LIVE = ("requested", "joining", "awaiting_admission", "active", "stopping")

# The document the appliance serves is built from the endpoint declarations at start-up; the
# same build here lets pytest list one test per operation before any server runs (schemathesis'
# fixture-loaded schemas fail on this pytest: they set a node attribute pytest 9 renamed).
# test_the_fuzzed_document_is_the_served_one checks that the two are the same document.
DOCUMENT = build_openapi(public_api())
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


def scheme_of(operation: Any) -> str | None:
    """The security scheme an operation declares (the appliance declares at most one)."""
    security = operation.definition.raw.get("security", [])
    return next(iter(security[0]), None) if security else None


user_schema = SCHEMA.include(lambda ctx: scheme_of(ctx.operation) in (None, "ApiKey"))
admin_schema = SCHEMA.include(lambda ctx: scheme_of(ctx.operation) == "AdminApiKey")
bot_schema = SCHEMA.include(lambda ctx: scheme_of(ctx.operation) == "BotToken")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, hanging_host: HangingMeetingHost) -> Iterator[Appliance]:
    app = hanging_appliance(tmp_path_factory.mktemp("fuzz"), hanging_host)
    try:
        yield app
    finally:
        stop_live_bots(app)
        app.stop()
        app.reap_leftovers()


def stop_live_bots(app: Appliance) -> None:
    """Stop every bot the fuzzer left running, through the API, and wait for its meeting to end."""
    with closing(sqlite3.connect(app.data_dir / "vomeet.db")) as db:
        live = db.execute(
            "SELECT id, user_id, platform, native_meeting_id FROM meetings "
            f"WHERE status IN ({','.join('?' * len(LIVE))})",
            LIVE,
        ).fetchall()
    with app.admin() as admin:
        for meeting_id, user_id, platform, native in live:
            key = admin.post(f"/admin/users/{user_id}/tokens").json()["token"]
            with app.client(key) as client:
                client.delete(f"/bots/{platform}/{native}")
                wait_until(
                    lambda meeting_id=meeting_id: client.get(f"/meetings/{meeting_id}").json()["status"] not in LIVE,
                    60, 0.2, f"meeting {meeting_id} to end",
                )


@pytest.fixture(scope="module")
def user_key(fuzzed: Appliance) -> str:
    # One bot at a time: each is a real Chromium, and the fuzzer asks for bots by the dozen.
    return fuzzed.new_user("fuzz@example.com", max_concurrent_bots=1)[1]


@pytest.fixture(scope="module")
def bot_token(fuzzed: Appliance) -> str:
    """The token of a real bot, launched by a user of its own (the fuzzer's user stops its bots)."""
    _, key = fuzzed.new_user("fuzz-bot-owner@example.com", max_concurrent_bots=1)
    with fuzzed.client(key) as client:
        meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "fuz-zbot-one"})
    assert meeting.status_code == 201, meeting.text
    return bot_token_of(meeting.json())


def test_the_fuzzed_document_is_the_served_one(fuzzed: Appliance) -> None:
    assert httpx.get(f"{fuzzed.base_url}/openapi.json").json() == json.loads(json.dumps(DOCUMENT))


# ---- authentication wherever the document asks for it ---------------------------------------

SECURED = sorted(
    (method.upper(), path, item["security"][0])
    for path, operations in DOCUMENT["paths"].items()
    for method, item in operations.items()
    if item["security"]
)
WRONG = {  # a made-up credential in the place each scheme names
    "ApiKey": {"X-API-Key": "vmu_" + "x" * 40},
    "AdminApiKey": {"X-Admin-API-Key": "vma_" + "x" * 40},
    "BotToken": {"Authorization": "Bearer vmb_" + "x" * 40},
}


def concrete(path: str, operation: dict[str, Any]) -> str:
    """The path with each parameter filled by a value its schema admits."""
    schemas = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "path"}

    def fill(match: re.Match[str]) -> str:
        schema = schemas[match.group(1)]
        return str(schema["enum"][0]) if "enum" in schema else "1" if schema["type"] == "integer" else "x"

    return re.sub(r"{(\w+)}", fill, path)


def test_every_secured_operation_is_listed() -> None:
    assert len(SECURED) == sum(1 for s in public_api().specs if s.auth.value != "public")
    assert {"ApiKey", "AdminApiKey", "BotToken"} == {next(iter(scheme)) for _, _, scheme in SECURED}


@pytest.mark.parametrize(("method", "path", "scheme"), SECURED, ids=[f"{m} {p}" for m, p, _ in SECURED])
def test_secured_operations_answer_401_without_a_valid_key(
    fuzzed: Appliance, user_key: str, method: str, path: str, scheme: dict[str, list[str]]
) -> None:
    url = f"{fuzzed.base_url}{concrete(path, DOCUMENT['paths'][path][method.lower()])}"
    name = next(iter(scheme))
    attempts = {"no key": {}, "a made-up key": WRONG[name]}
    if name == "AdminApiKey":
        attempts["a user's key as the admin key"] = {"X-Admin-API-Key": user_key}
    for what, headers in attempts.items():
        answer = httpx.request(method, url, headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)
        assert answer.status_code == 401, f"{method} {path} with {what}: {answer.status_code} {answer.text}"


# ---- what the fuzzer found, pinned --------------------------------------------------------


def test_an_empty_meeting_url_without_platform_is_a_422(fuzzed: Appliance, user_key: str) -> None:
    """It was a 500: `meeting_url: ""` passed the "url or platform and id" check as a URL given,
    then was skipped as no URL."""
    with fuzzed.client(user_key) as client:
        answer = client.post("/bots", json={"platform": None, "native_meeting_id": "", "meeting_url": ""})
    assert answer.status_code == 422, answer.text
    assert "meeting_url" in answer.json()["detail"]


@pytest.mark.parametrize(("route", "body"), [
    ("/internal/bot/segments", {"stream": {"uid": "s1", "started_at": 1.7e9}, "segments": [
        {"segment_id": "a", "start": 0.0, "end": 1e300, "text": "hello", "completed": True}]}),
    ("/internal/bot/segments", {"stream": {"uid": "s1", "started_at": 1e300}, "segments": [
        {"segment_id": "a", "start": 0.0, "end": 1.0, "text": "hello", "completed": True}]}),
    ("/internal/bot/speakers", {"turns": [{"speaker": "Ann", "start": 1.7e9, "end": 1e300}]}),
])
def test_times_beyond_any_calendar_are_a_422(
    fuzzed: Appliance, bot_token: str, route: str, body: dict[str, Any]
) -> None:
    """They were 500s: a segment ending 1e300 s into its stream, or a stream or turn at Unix
    time 1e300, overflowed the date arithmetic."""
    answer = httpx.post(f"{fuzzed.base_url}{route}", json=body, headers={"Authorization": f"Bearer {bot_token}"})
    assert answer.status_code == 422, answer.text


def test_parameter_errors_are_documented(fuzzed: Appliance, user_key: str) -> None:
    """An unknown platform in the path and a malformed query are 422s the document now lists."""
    with fuzzed.client(user_key) as client:
        assert client.delete("/bots/skype/abc").status_code == 422
        assert client.get("/meetings", params={"limit": "many"}).status_code == 422
    assert "422" in DOCUMENT["paths"]["/bots/{platform}/{native_meeting_id}"]["delete"]["responses"]
    assert "422" in DOCUMENT["paths"]["/meetings"]["get"]["responses"]
    platform = DOCUMENT["paths"]["/transcripts/{platform}/{native_meeting_id}"]["get"]["parameters"][0]
    assert platform["schema"]["enum"] == ["google_meet", "teams", "zoom"]


def test_bounds_are_spelled_as_openapi_30_spells_them() -> None:
    """Pydantic's `exclusiveMinimum: 0` (JSON Schema 2020-12) is no OpenAPI 3.0: schemathesis could
    not generate a `POST /bots` body at all (`automatic_leave`), and 3.0 tools reject it."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            yield node
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)

    bounded = [n for n in walk(DOCUMENT) if "exclusiveMinimum" in n or "exclusiveMaximum" in n]
    assert bounded  # AutomaticLeave's timeouts are above 0
    for node in bounded:
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if exclusive in node:
                assert node[exclusive] is True and isinstance(node[bound], (int, float)), node
    leave = DOCUMENT["components"]["schemas"]["AutomaticLeave"]["properties"]["max_duration_s"]
    assert (leave["minimum"], leave["exclusiveMinimum"], leave["maximum"]) == (0, True, 604800)


# ---- the fuzzer (last: its admin run may revoke the user key the tests above use) ----------


@user_schema.parametrize()
@FUZZ_SETTINGS
def test_user_and_public_operations(case: Any, fuzzed: Appliance, user_key: str) -> None:
    case.call_and_validate(base_url=fuzzed.base_url, headers={"X-API-Key": user_key}, checks=CHECKS, timeout=30)


@admin_schema.parametrize()
@FUZZ_SETTINGS
def test_admin_operations(case: Any, fuzzed: Appliance) -> None:
    case.call_and_validate(
        base_url=fuzzed.base_url, headers={"X-Admin-API-Key": fuzzed.admin_key}, checks=CHECKS, timeout=30
    )


@bot_schema.parametrize()
@FUZZ_SETTINGS
def test_bot_operations(case: Any, fuzzed: Appliance, bot_token: str) -> None:
    case.call_and_validate(
        base_url=fuzzed.base_url, headers={"Authorization": f"Bearer {bot_token}"}, checks=CHECKS, timeout=30
    )
