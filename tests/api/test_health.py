"""Liveness and readiness of a freshly started appliance."""

from tests.conftest import Appliance


def test_healthz_needs_no_key(appliance: Appliance) -> None:
    with appliance.client() as client:
        answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_readyz_reports_each_part(appliance: Appliance) -> None:
    with appliance.client() as client:
        answer = client.get("/readyz")
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["bot_runtime"]["kind"] == "process"
    assert set(body["checks"]) == {"database", "bot_runtime", "worker", "asr"}
    # ASR is switched off for these tests, and readiness must say so rather than hide it.
    assert body["checks"]["asr"]["ok"] is False


def test_metrics_need_the_admin_key_and_count_meetings(appliance: Appliance) -> None:
    with appliance.client() as client:
        assert client.get("/metrics").status_code == 401
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {appliance.admin_key}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert 'vomeet_build_info{version="0.1.0"} 1.0' in lines
    assert any(line.startswith('vomeet_meetings{status="requested"}') for line in lines)
    assert 'vomeet_child_up{child="worker"} 1.0' in lines
