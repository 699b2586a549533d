"""/metrics scraped from the real appliance with its real ASR (tiny.en), a real bot and a webhook
receiver on loopback: every family is there and its values agree with what the test did."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from appliance.gpu import read_gpus
from tests.conftest import Appliance, HangingMeetingHost, bot_token_of, free_port, wait_until
from tests.webhooks.test_webhooks import Receiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(app: Appliance) -> Samples:
    answer = httpx.get(f"{app.base_url}/metrics", headers={"X-Admin-API-Key": app.admin_key}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def with_name(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def deliveries(client: httpx.Client) -> list[dict[str, Any]]:
    return list(client.get("/user/webhook/deliveries").json()["deliveries"])


def test_metrics_report_asr_webhooks_http_and_gpus(make_appliance, hanging_host: HangingMeetingHost) -> None:
    receiver = Receiver()
    receiver.answer = 503  # the first attempt fails, and is retried half a second later
    asr_port = free_port()
    app: Appliance = make_appliance(
        asr_enabled="true", asr_port=str(asr_port), google_meet_base_url=hanging_host.base_url,
        webhook_allow_internal_targets="true", webhook_retry_base_s="0.5",
    ).start()
    try:
        wait_until(lambda: httpx.get(f"{app.base_url}/readyz").json()["checks"]["asr"]["ok"], 120,
                   0.5, "the ASR server to load its model")
        _, key = app.new_user("metrics@example.com")
        with app.client(key) as client:
            assert client.put("/user/webhook", json={"webhook_url": receiver.url}).status_code == 200
            meeting = client.post("/bots", json={"platform": "google_meet", "native_meeting_id": "met-rics-one"}).json()
            wait_until(lambda: receiver.received, 30, what="a first webhook attempt")
            receiver.answer = 200  # the retries (0.5 s, 1.5 s, ... later) are delivered

            # One stream open on the ASR, as a bot's participant channel.
            config = {"uid": "metrics-1", "language": "en", "task": "transcribe", "use_vad": True,
                      "token": bot_token_of(meeting), "meeting_id": str(meeting["id"]), "speaker": "Ann"}
            with connect(f"ws://127.0.0.1:{asr_port}", open_timeout=30) as ws:
                ws.send(json.dumps(config))
                assert json.loads(ws.recv(timeout=60)).get("message") == "SERVER_READY"
                live = scrape(app)
            assert value(live, "vomeet_asr_up") == 1
            assert value(live, "vomeet_asr_streams") == 1
            assert value(live, "vomeet_asr_streams_accepted_total") == 1
            assert value(live, "vomeet_asr_streams_refused_total") == 0
            assert value(live, "vomeet_asr_admitting") in (0, 1)
            lag = value(live, "vomeet_asr_lag_seconds")
            assert lag is not None and 0 <= lag < 60
            models = with_name(live, "vomeet_asr_model_info")
            assert len(models) == 1 and dict(next(iter(models)))["model"]
            assert value(live, "vomeet_bots_running") == 1

            assert client.delete("/bots/google_meet/met-rics-one").status_code == 202
            wait_until(lambda: client.get(f"/meetings/{meeting['id']}").json()["status"] == "completed", 60,
                       what="the meeting to complete")
            settled = wait_until(
                lambda: (rows := deliveries(client)) and all(r["status"] == "delivered" for r in rows) and rows,
                60, 0.2, "every webhook to be delivered",
            )
            assert client.get(f"/meetings/{meeting['id']}").status_code == 200
            assert client.get("/meetings/999999").status_code == 404
            done = scrape(app)
    finally:
        receiver.close()

    # Webhooks: what the table holds, and every attempt the receiver turned away.
    assert value(done, "vomeet_webhook_deliveries", status="delivered") == len(settled)
    assert value(done, "vomeet_webhook_deliveries", status="pending") == 0
    assert value(done, "vomeet_webhook_deliveries", status="failed") == 0
    assert value(done, "vomeet_webhook_attempts") == len(receiver.received)
    failed = len(receiver.received) - len(settled)
    assert failed >= 1 and value(done, "vomeet_webhook_attempts_failed") == failed
    # HTTP: by template and status, never by the path asked for.
    http = with_name(done, "vomeet_http_requests_total")
    assert value(done, "vomeet_http_requests_total", method="GET", route="/meetings/{meeting_id}", status="200")
    assert value(done, "vomeet_http_requests_total", method="GET", route="/meetings/{meeting_id}", status="404") == 1
    assert value(done, "vomeet_http_requests_total", method="GET", route="/metrics", status="200")
    assert value(done, "vomeet_http_requests_total", method="POST", route="/bots", status="201") == 1
    assert not [labels for labels in http if "999999" in dict(labels)["route"]]
    assert value(done, "vomeet_http_request_duration_seconds_count", method="POST", route="/bots") == 1
    # The ASR's counters kept the stream that ended; the rest of the appliance is still reported.
    assert value(done, "vomeet_asr_streams") == 0 and value(done, "vomeet_asr_streams_accepted_total") == 1
    assert value(done, "vomeet_meetings", status="completed") == 1
    assert value(done, "vomeet_child_up", child="asr") == 1
    # GPUs: what NVML finds here (on this machine none: no samples, and nothing failed).
    gpus, _ = read_gpus()
    assert len(with_name(done, "vomeet_gpu_memory_total_bytes")) == len(gpus)
