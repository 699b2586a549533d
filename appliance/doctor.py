"""`vomeet doctor`: checks a person can read, each with what to do about a problem."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
from dataclasses import dataclass

import httpx

from appliance.asr_models import model_in_use
from appliance.browser import find_chromium
from appliance.config import ConfigError, Settings
from appliance.db import migrate
from appliance.process_command import external_env


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def check_data_dir(settings: Settings) -> CheckResult:
    path = settings.data_dir.resolve()
    try:
        settings.ensure_dirs()
        probe = path / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return CheckResult("data directory", False, f"{path}: {exc.strerror}; fix its owner or VOMEET_DATA_DIR")
    mode = oct(path.stat().st_mode & 0o777)
    return CheckResult("data directory", True, f"{path} (mode {mode})")


def check_database(settings: Settings) -> CheckResult:
    if not settings.database_path.exists():
        return CheckResult("database", False, "not created yet; run `vomeet migrate` or `vomeet serve`")
    current, head = migrate.current_revision(settings), migrate.head_revision(settings)
    if current != head:
        return CheckResult("database", False, f"at revision {current}, code expects {head}; run `vomeet migrate`")
    return CheckResult("database", True, f"{settings.database_path} at revision {current}")


def check_chromium(settings: Settings) -> CheckResult:
    path = find_chromium(settings.chromium_path)
    if path is None:
        return CheckResult(
            "chromium", False, "not found; `apt-get install chromium-headless-shell` or set VOMEET_CHROMIUM_PATH"
        )
    try:
        version = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=20, check=False,
            env=external_env(),  # a system program: not with the frozen bundle's libraries
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult("chromium", False, f"{path} does not run: {exc}")
    return CheckResult("chromium", True, f"{path}: {version}")


def check_model(settings: Settings) -> CheckResult:
    try:
        from asr.models import choose_device
    except ImportError as exc:
        return CheckResult("whisper model", False, f"ASR package not importable ({exc}); reinstall vomeet")
    try:
        model = model_in_use(settings)  # what `serve` hands its ASR (VOMEET_ASR_MODEL)
    except ConfigError as exc:
        return CheckResult("whisper model", False, str(exc))
    device, compute_type = choose_device()
    return CheckResult("whisper model", True, f"{model.name} from {model.path} on {device} ({compute_type})")


def _port_state(host: str, port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return "in use" if sock.connect_ex((host, port)) == 0 else "free"


def check_api_port(settings: Settings) -> CheckResult:
    host = settings.loopback_host
    if _port_state(host, settings.port) == "free":
        return CheckResult("api port", True, f"{settings.port} is free (appliance not running)")
    try:  # with TLS on, the plain loopback listener answers for the HTTPS port's server
        answer = httpx.get(f"{settings.loopback_url}/healthz", timeout=2).json()
        return CheckResult("api port", True, f"{settings.port}: Vomeet {answer.get('version')} answers")
    except (httpx.HTTPError, ValueError):
        return CheckResult("api port", False, f"{settings.port} is taken by another program; set VOMEET_PORT")


def check_asr_port(settings: Settings) -> CheckResult:
    where = f"{settings.asr_host}:{settings.asr_port}"
    if _port_state(settings.asr_host, settings.asr_port) == "free":
        return CheckResult("asr server", True, f"{where} free (ASR server not running)")
    try:
        load = httpx.get(f"http://{where}/stats", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return CheckResult("asr server", False, f"{where} is taken by another program; set VOMEET_ASR_PORT")
    model = load.get("model") or {}
    return CheckResult(
        "asr server", True,
        f"{where}: {model.get('model')} from {model.get('path')} on {model.get('device')} "
        f"({model.get('compute_type')}); {load.get('streams')} stream(s), lag {load.get('lag_s')} s",
    )


def check_tls(settings: Settings) -> CheckResult:
    if not settings.tls_enabled:
        return CheckResult("tls", True, "off: the API and console speak plain HTTP (VOMEET_TLS)")
    from appliance.tls import TlsError, TlsStore, grouped

    try:
        info, _ = TlsStore(settings).ensure()
    except (TlsError, OSError) as exc:
        return CheckResult("tls", False, f"{exc}; see docs/tls.md")
    left = info.not_after - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=30):
        return CheckResult("tls", False, f"the certificate expires {info.not_after:%Y-%m-%d}; run `vomeet tls rotate`")
    return CheckResult("tls", True, f"fingerprint {grouped(info.fingerprint)}, valid until {info.not_after:%Y-%m-%d}")


def check_mdns(settings: Settings) -> CheckResult:
    from appliance.discovery.status import announcement_status

    ok, detail = announcement_status(settings)
    return CheckResult("mdns", ok, detail)


def run_checks(settings: Settings) -> list[CheckResult]:
    checks = (
        check_data_dir, check_database, check_chromium, check_model, check_api_port, check_asr_port, check_tls,
        check_mdns,
    )
    results = [check(settings) for check in checks]
    if os.geteuid() == 0 and settings.data_dir.resolve().is_relative_to("/var/lib"):
        results.append(CheckResult("service user", False, "running as root; the systemd unit runs as `vomeet`"))
    return results
