"""Shared fixtures: the real appliance (`vomeet serve`) on loopback with a real SQLite file.

Nothing here is a test double. `HangingMeetingHost` is a real TCP server that accepts the bot's
connection and never answers, which keeps a real bot in `joining` for as long as a test needs —
the stand-in for a meeting platform that cannot be reached from here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from asr.synth import SPEECH_PROGRAMS

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = re.compile(r"vma_[A-Za-z0-9_-]{40,}")
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "condition"):
    """Poll `condition` until it returns a truthy value; fail the test with `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def in_ci() -> bool:
    """True under CI=true (what CI services set), where `make test` has installed every program
    the tests need."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_programs(*programs: str) -> None:
    """Skip the calling test when one of `programs` is not on PATH, on a developer's machine;
    fail it under CI=true, where `make test` installs them (make system-deps), so that a broken
    set-up turns the suite red instead of silently leaving tests out."""
    missing = [name for name in programs if shutil.which(name) is None]
    if not missing:
        return
    message = f"needs {' and '.join(missing)}, not installed here (make system-deps installs it)"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def speech_programs() -> None:
    """For tests that synthesize speech (espeak-ng, sox): `pytest.mark.usefixtures("speech_programs")`.
    Session-scoped so that it is checked before any other session fixture a test asks for."""
    require_programs(*SPEECH_PROGRAMS)


class HangingMeetingHost:
    """A TCP server that accepts connections and holds them open without answering."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._server.close()


@dataclass
class Appliance:
    """A running `vomeet serve` process and ways to talk to it."""

    data_dir: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    admin_key: str = ""
    # A command that runs `vomeet serve` (e.g. a tracer) keeping its pid: tests/egress.
    launcher: list[str] = field(default_factory=list)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.parent / f"serve-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Appliance:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.launcher, sys.executable, "-m", "appliance", "serve"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(self._healthy, START_TIMEOUT_S, what=f"the appliance on {self.base_url} ({self.log_path})")
        printed = ADMIN_KEY.search(self.log_path.read_text(errors="replace")[offset:])
        if printed:
            self.admin_key = printed.group(0)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"vomeet serve exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        """Graceful stop (SIGTERM), as systemd does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """kill -9 of the supervisor, as a crash or power loss would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def reap_leftovers(self) -> None:
        """After a test: end children and bots that a kill -9 of the supervisor left behind,
        so that no test leaves processes running on the machine."""
        candidates: list[tuple[int, float | None]] = []
        try:
            for child in json.loads((self.data_dir / "run" / "children.json").read_text()):
                if child.get("pid"):
                    candidates.append((child["pid"], child.get("started_at")))
        except (OSError, ValueError):
            pass
        try:
            with sqlite3.connect(self.data_dir / "vomeet.db") as db:
                for (handle,) in db.execute("SELECT bot_container_id FROM meetings WHERE bot_container_id IS NOT NULL"):
                    _, pid, started_ms = handle.split("-")
                    candidates.append((int(pid), int(started_ms) / 1000))
        except (sqlite3.Error, ValueError):
            pass
        for pid, started in candidates:
            try:
                process = psutil.Process(pid)
                if started is not None and abs(process.create_time() - started) > 2:
                    continue
                os.killpg(pid, signal.SIGKILL)
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"X-Admin-API-Key": self.admin_key}, timeout=30
        )

    def new_user(self, email: str, max_concurrent_bots: int = 0) -> tuple[int, str]:
        """Create a user and a token through the admin API; returns (user id, token)."""
        with self.admin() as admin:
            user = admin.post("/admin/users", json={"email": email, "max_concurrent_bots": max_concurrent_bots})
            assert user.status_code in (200, 201), user.text
            token = admin.post(f"/admin/users/{user.json()['id']}/tokens")
            assert token.status_code == 201, token.text
        return user.json()["id"], token.json()["token"]


def appliance_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOMEET_")}
    env.update(
        VOMEET_DATA_DIR=str(data_dir),
        VOMEET_HOST="127.0.0.1",
        VOMEET_PORT=str(port),
        VOMEET_ASR_ENABLED="false",
        VOMEET_ASR_PORT=str(free_port()),
        VOMEET_BOT_STOP_GRACE_S="10",
        VOMEET_BOT_JOIN_TIMEOUT_S="300",
        # Bot admission reads the whole box's CPU and the ASR's lag: on a shared test machine other
        # people's load would refuse bots at random. Tests of admission set their own values.
        VOMEET_CAPACITY_CPU_CORES="64",
        VOMEET_CAPACITY_ASR_LAG_BUDGET_S="3600",
    )
    env.update({f"VOMEET_{k.upper()}": v for k, v in settings.items()})
    return env


@pytest.fixture(scope="session")
def hanging_host() -> Iterator[HangingMeetingHost]:
    host = HangingMeetingHost()
    yield host
    host.close()


def hanging_appliance(root: Path, hanging_host: HangingMeetingHost) -> Appliance:
    """A started appliance in `root` whose meeting hosts never answer (bots stay in `joining`)."""
    port = free_port()
    env = appliance_env(
        root / "data", port,
        google_meet_base_url=hanging_host.base_url, teams_base_url=hanging_host.base_url,
        zoom_base_url=hanging_host.base_url,
    )
    return Appliance(root / "data", env, port).start()


@pytest.fixture(scope="session")
def appliance(tmp_path_factory: pytest.TempPathFactory, hanging_host: HangingMeetingHost) -> Iterator[Appliance]:
    """One appliance shared by the API tests; its Meet and Teams hosts never answer, so bots
    stay in `joining` until they are stopped."""
    app = hanging_appliance(tmp_path_factory.mktemp("appliance"), hanging_host)
    yield app
    if app.process and app.process.poll() is None:
        app.stop()
    app.reap_leftovers()


@pytest.fixture
def make_appliance(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Factory for an appliance of a test's own (for restarts, kills and special settings)."""
    started: list[Appliance] = []

    def make(**settings: str) -> Appliance:
        port = free_port()
        app = Appliance(tmp_path / f"data-{port}", appliance_env(tmp_path / f"data-{port}", port, **settings), port)
        started.append(app)
        return app

    yield make
    for app in started:
        if app.process and app.process.poll() is None:
            app.stop()
        app.reap_leftovers()


def bot_token_of(meeting: dict) -> str:
    """The bot token of a running bot, read from its process environment (only the bot and
    the kernel know it: the appliance stores a hash)."""
    pid = int(meeting["bot_container_id"].split("-")[1])
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(e.split(b"=", 1)[1] for e in environ if e.startswith(b"VOMEET_BOT_TOKEN=")).decode()
