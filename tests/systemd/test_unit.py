"""systemd/vomeet.service, vomeet.sysusers and vomeet.tmpfiles, checked with systemd's own tools:
the exposure score of `systemd-analyze security`, and the user, groups and directories that
systemd-sysusers and systemd-tmpfiles create from the snippets in a scratch root."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from appliance.config import Settings
from appliance.service_manager import ASR_DRAIN_TIMEOUT_S
from appliance.supervisor import STOP_TIMEOUT_S
from tests.conftest import REPO

UNIT = REPO / "systemd" / "vomeet.service"
EXPOSURE_MAX = 3.0


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_exposure_score_at_most_3() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    match = re.search(r"Overall exposure level for vomeet\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= EXPOSURE_MAX, result.stdout


def test_notify_service_that_keeps_the_gpu_and_drains_before_it_is_killed() -> None:
    unit = directives(UNIT)
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert int(unit["WatchdogSec"][0]) >= 10
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # PrivateDevices= would hide /dev/nvidia*; the closed device policy lets them through.
    assert "PrivateDevices" not in unit
    assert unit["DevicePolicy"] == ["closed"] and "char-nvidia* rw" in unit["DeviceAllow"]
    # The whole stop order (bots leave, the ASR delivers, children stop) fits before the kill.
    bound = Settings().bot_stop_grace_s + ASR_DRAIN_TIMEOUT_S + 2 * STOP_TIMEOUT_S
    assert int(unit["TimeoutStopSec"][0]) > bound + 15
    assert unit["KillMode"] == ["mixed"]


def test_sysusers_and_tmpfiles_snippets(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(REPO / "systemd" / "vomeet.sysusers")],
                   check=True, capture_output=True, timeout=60)
    users = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc/group").read_text().splitlines()}
    vomeet = users["vomeet"]
    assert vomeet[5:] == ["/var/lib/vomeet", "/usr/sbin/nologin"] and int(vomeet[2]) < 1000  # a system user
    for gpu_group in ("video", "render"):
        assert "vomeet" in groups[gpu_group][3].split(",")

    subprocess.run(["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(REPO / "systemd" / "vomeet.tmpfiles")],
                   check=True, capture_output=True, timeout=60)
    uid, gid = int(vomeet[2]), int(groups["vomeet"][2])
    etc, data = (tmp_path / "etc/vomeet").stat(), (tmp_path / "var/lib/vomeet").stat()
    assert (etc.st_mode & 0o777, etc.st_uid, etc.st_gid) == (0o750, 0, gid)
    assert (data.st_mode & 0o777, data.st_uid, data.st_gid) == (0o700, uid, gid)

