"""`vomeet doctor`'s mdns line: what a running appliance announces, else what it would."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from appliance.config import Settings
from appliance.discovery.service import Discovery
from appliance.discovery.status import STATE_FILE, announcement_status
from tests.conftest import REPO, appliance_env, free_port
from tests.discovery.helpers import isolated_mdns_port


def settings_for(data_dir: Path, **extra: object) -> Settings:
    settings = Settings(data_dir=data_dir, mdns_name="meeting-room", **extra)  # type: ignore[arg-type]
    settings.ensure_dirs()
    return settings


def test_doctor_shows_what_the_running_appliance_announces(tmp_path: Path) -> None:
    port = free_port()
    settings = settings_for(tmp_path, host="127.0.0.1", port=port, tls="on", mdns_loopback=True)

    async def scenario() -> str:
        discovery = Discovery.for_settings(settings)
        await discovery.start()
        try:
            env = appliance_env(tmp_path, port, tls="on", mdns_loopback="true", mdns_name="meeting-room")
            env["COLUMNS"] = "400"  # the table on one line a check
            doctor = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "appliance", "doctor", cwd=REPO, env=env, stdout=subprocess.PIPE,
            )
            out, _ = await doctor.communicate()
            return out.decode()
        finally:
            await discovery.stop()

    with isolated_mdns_port():
        report = asyncio.run(scenario())
    line = next(line for line in report.splitlines() if "mdns" in line)
    assert f"announcing meeting-room._vomeet._tcp.local. port {port}" in line
    assert f"meeting-room._https._tcp.local. port {port}" in line and "on 127.0.0.1 (lo)" in line
    assert "TXT fp " in line


def test_a_stopped_appliance_is_told_apart_from_one_killed_and_from_one_with_nothing_to_announce(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, host="127.0.0.1", port=8443, mdns_loopback=True)
    ok, said = announcement_status(settings)
    assert ok and said == "not running; would announce 'meeting-room' on 127.0.0.1 (lo) port 8443"

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = {"pid": int(dead.stdout), "services": [], "addresses": []}  # a run killed with -9 leaves this
    (settings.state_dir / STATE_FILE).write_text(json.dumps(left))
    assert announcement_status(settings)[1].startswith("not running; would announce")

    assert announcement_status(settings_for(tmp_path, host="127.0.0.1")) == (
        True, "nothing to announce: the API listens on 127.0.0.1 only (VOMEET_HOST)"
    )
    assert announcement_status(settings_for(tmp_path, mdns=False))[1].startswith("off (VOMEET_MDNS=false)")
    nowhere = settings_for(tmp_path, host="0.0.0.0", mdns_interfaces="nosuchif*")
    ok, said = announcement_status(nowhere)
    assert not ok and "no LAN interface to announce on" in said
