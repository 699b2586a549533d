"""The appliance as a customer gets it: the USB image, built from the frozen bundle, installed into a
clean Debian root with no network at all, then used, upgraded, rolled back and uninstalled.

One root is shared by the module and the tests run in order, one per step of issue 14's "Done when";
a step whose earlier step failed is skipped, naming the step that broke. systemd is not PID 1 in
the root, so the installed unit's commands are run as the unit would run them
(tests/packaging/service_unit.py) with a real notify socket, and the installer is told not to start
units itself. The mock meeting runs from the source tree in the root's network namespace, so the
installed bot reaches it on 127.0.0.1; the test talks to the installed appliance there too. WebRTC
skips loopback by default, so the media path needs a second loopback address (clean_root.Netns) and
the bots' browser one flag, given through the operator's VOMEET_CHROMIUM_PATH setting (step 3).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.tls import fingerprint_of_pem, grouped
from asr.wer import wer
from tests.conftest import REPO, wait_until
from tests.mock_meetings.server import MockMeetingServer
from tests.packaging.clean_root import CleanRoot, Netns
from tests.packaging.conftest import BUNDLE_WORKDIR
from tests.packaging.service_unit import MainProcess, NotifySocket, Service, account
from tests.packaging.usb_image import Key, build_usb_image, extract, throwaway_key
from tests.tls_helpers import pinned_client

pytestmark = pytest.mark.slow
MEDIA = "/media/vomeet"  # where the stick's filesystem is read from inside the root
UNIT = "/etc/systemd/system/vomeet.service"
DATA = "/var/lib/vomeet"
TURN = ("Alice", "Good morning everyone. Let's start with the quarterly budget review.")
QUICK_LEAVE = {"waiting_room_timeout_s": 60, "nobody_joined_timeout_s": 60, "left_alone_timeout_s": 60}
READY_TIMEOUT_S = 180  # first start loads the model and starts the ASR child on a shared 2-core box
MEASUREMENTS = REPO / "build" / "clean-root-measurements.txt"
LOOPBACK_BROWSER = "/usr/local/lib/vomeet-test/chromium"
# What the frozen program starts outside its own library path (Playwright's node driver, the browser).
EXTERNAL_PROGRAMS = ("/opt/vomeet/current/_internal/playwright/driver/node",
                     "/usr/lib/chromium/chromium-headless-shell")


@dataclass
class Release:
    version: str
    image: Path


@dataclass
class Box:
    """The installed root and what the steps learnt about it (shared, in order)."""

    root: CleanRoot
    releases: dict[str, Release]
    mock: MockMeetingServer
    log_dir: Path
    passed: list[str] = field(default_factory=list)
    main: MainProcess | None = None
    notify: NotifySocket | None = None
    port: int = 8056  # HTTPS: the box binds every interface, so TLS is on (docs/tls.md)
    loopback_port: int = 8057  # the plain-HTTP listener the box's own processes dial
    admin_key: str = ""
    token: str = ""
    fingerprint: str = ""  # the certificate's, as install.sh's summary printed it
    meeting: dict[str, Any] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)

    def require(self, *steps: str) -> None:
        missing = [step for step in steps if step not in self.passed]
        if missing:
            pytest.skip(f"an earlier step did not pass: {', '.join(missing)}")

    def done(self, step: str) -> None:
        self.passed.append(step)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.loopback_port}"

    def http(self, method: str, path: str, token: str | None = None, admin: bool = False,
             **kwargs: Any) -> httpx.Response:
        """A request to the installed appliance, from inside the root's network namespace."""
        headers = {"X-Admin-API-Key": self.admin_key} if admin else {"X-API-Key": token or self.token}
        with self.root.netns.entered():
            return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def mock_control(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        with self.root.netns.entered():
            answer = httpx.request(method, f"{self.mock.base_url}{path}", timeout=30, **kwargs)
        assert answer.status_code in (200, 201), answer.text
        body: dict[str, Any] = answer.json()
        return body

    def diagnosis(self) -> str:
        """What a failing step's message carries: the meeting as the API shows it, the bot's log and
        the service's log (the root is deleted after the module)."""
        parts = []
        if self.meeting:
            meeting_id = self.meeting["id"]
            with contextlib.suppress(httpx.HTTPError):
                parts.append(f"meeting: {self.http('GET', f'/meetings/{meeting_id}').text[:3000]}")
            bot_log = self.root.file(f"{DATA}/logs/bots/meeting-{meeting_id}.log")
            if bot_log.exists():
                parts.append(f"bot log:\n{bot_log.read_text(errors='replace')[-4000:]}")
        if self.main is not None:
            parts.append(f"service log:\n{self.main.tail(4000)}")
        return "\n".join(parts)

    def installer(self, media: str, *flags: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = self.root.run(["bash", f"{media}/install.sh", *flags], timeout_s=timeout_s)
        record(f"install.sh {' '.join(flags) or '(install)'}: {time.monotonic() - started:.1f} s, rc {done.returncode}")
        return done

    def start(self, name: str) -> MainProcess:
        """`systemctl start vomeet`, as the installed unit says."""
        service = Service(self.root, UNIT)
        service.prepare()
        service.run_pre()
        self.notify = NotifySocket(self.root)
        self.main = service.start_main(self.notify, self.log_dir / f"serve-{name}.log")
        return self.main

    def wait_ready(self) -> float:
        """Seconds from start to READY=1 on the notify socket."""
        assert self.main is not None and self.notify is not None
        started = time.monotonic()
        notify, main = self.notify, self.main

        def ready() -> bool:
            if not main.alive():
                raise AssertionError(f"vomeet serve exited ({main.process.returncode}):\n{main.tail()}")
            return bool(notify.received("READY", "1"))

        wait_until(ready, READY_TIMEOUT_S, 0.2, f"READY=1 from the installed unit's ExecStart ({main.log})")
        return time.monotonic() - started

    def stop(self) -> None:
        """`systemctl stop vomeet`."""
        if self.main is not None:
            status = self.main.stop()
            assert status == 0, f"vomeet serve exited {status} on SIGTERM:\n{self.main.tail()}"
            assert self.notify is not None and self.notify.received("STOPPING", "1"), \
                f"no STOPPING=1 on SIGTERM: {self.notify.messages if self.notify else None}"
            self.main = None
        if self.notify is not None:
            self.notify.close()
            self.notify = None


def record(line: str) -> None:
    """Figures for docs/benchmarks.md (written there by hand with the date), not asserted."""
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    with MEASUREMENTS.open("a") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")


def tail(done: subprocess.CompletedProcess[str], chars: int = 5000) -> str:
    return (done.stdout + done.stderr)[-chars:]


def bumped(version: str) -> str:
    """The next patch version (the upgrade's target)."""
    head, _, last = version.rpartition(".")
    return f"{head}.{int(last) + 1}" if last.isdigit() else f"{version}.1"


def build_image(bundle: Path, version: str, key: Key, base_status: Path, folder: Path) -> Path:
    """A full image by B's builder (packaging/build_usb_image.py): the default model and offline
    packages, resolved against the clean root's own package set, signed with the throwaway key."""
    spec = build_usb_image.ImageSpec(version=version, bundle=bundle, signing_key=key.secret,
                                     signing_pubkey=key.public, base_status=base_status)
    image = folder / f"vomeet-{version}-usb.img"
    build_usb_image.build(spec, folder / f"staging-{version}", image)
    return image


def snapshot(root: CleanRoot) -> dict[str, tuple[int, int, int]]:
    """Path -> (mode, size, mtime ns) of everything an installer could change (what "nothing
    changed" is checked against)."""
    seen: dict[str, tuple[int, int, int]] = {}
    for top in ("etc", "opt", "var/lib", "usr/local", "usr/lib/systemd", "usr/lib/sysusers.d"):
        base = root.path / top
        for path in [base, *base.rglob("*")] if base.exists() else []:
            info = path.lstat()
            seen[str(path.relative_to(root.path))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return seen


@pytest.fixture(scope="module")
def releases(frozen_bundle: Path, clean_root: CleanRoot,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Release]:
    """The release under test and a rebuilt next version: the same frozen build packed under the
    bumped version (which only the bundle's VERSION file and names carry, packaging/README.md)."""
    folder = tmp_path_factory.mktemp("images")
    key = throwaway_key(folder / "key")
    version = frozen_bundle.name.removeprefix("vomeet-").split("-linux-")[0]
    status = clean_root.file("/var/lib/dpkg/status")
    started = time.monotonic()
    first = build_image(frozen_bundle, version, key, status, folder)
    record(f"image {version}: {first.stat().st_size / 2**20:.0f} MiB, built in {time.monotonic() - started:.0f} s "
           f"(bundle {frozen_bundle.stat().st_size / 2**20:.0f} MiB)")
    upgrade = bumped(version)
    repacked = subprocess.run([sys.executable, str(REPO / "packaging" / "build_bundle.py"), "--repack-as", upgrade,
                               "--workdir", str(BUNDLE_WORKDIR), "--dist", str(folder)],
                              capture_output=True, text=True, timeout=600)
    assert repacked.returncode == 0, f"repacking the bundle as {upgrade} failed:\n{repacked.stderr[-3000:]}"
    second = build_image(folder / frozen_bundle.name.replace(version, upgrade), upgrade, key, status, folder)
    return {"current": Release(version, first), "upgrade": Release(upgrade, second)}


@pytest.fixture(scope="module")
def box(clean_root: CleanRoot, netns: Netns, releases: dict[str, Release],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    with netns.entered():
        mock = MockMeetingServer(8090).start()  # its threads stay in the namespace
    box = Box(clean_root, releases, mock, tmp_path_factory.mktemp("box-logs"))
    try:
        yield box
    finally:
        if box.main is not None and box.main.alive():
            box.main.stop(timeout_s=60)
        if box.notify is not None:
            box.notify.close()
        mock.stop()


def media(box: Box, release: str, name: str | None = None) -> str:
    """The release's stick, read into the root (packaging/read_image.py: no mount) at MEDIA-<name>,
    as an operator mounts it; returns its path inside the root."""
    inside = f"{MEDIA}-{name or release}"
    extract(box.releases[release].image, box.root.file(inside))
    return inside


def test_1_signature_verifies_and_a_tampered_image_is_refused(box: Box) -> None:
    stick = media(box, "current")
    verified = box.installer(stick, "--verify-only")
    assert verified.returncode == 0, \
        f"step 1 (verify): the untouched image did not verify:\n{verified.stdout}{verified.stderr}"
    tampered = media(box, "current", "tampered")
    bundle = next(box.root.file(tampered).rglob("vomeet-*.tar.zst"))
    with bundle.open("r+b") as handle:  # one flipped byte in the middle of the frozen program
        handle.seek(bundle.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    before = snapshot(box.root)
    refused = box.installer(tampered)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, f"step 1 (tamper): install.sh accepted a tampered image:\n{output}"
    assert re.search(r"checksum|signature|tamper", output, re.I), f"step 1 (tamper): no clear message:\n{output}"
    after = snapshot(box.root)
    changed = {path for path, info in after.items() if before.get(path) != info} | (before.keys() - after.keys())
    assert not changed, f"step 1 (tamper): the refused install changed {sorted(changed)[:20]}"
    shutil.rmtree(box.root.file(tampered))
    box.done("verify")


def test_2_install_sh_installs(box: Box) -> None:
    box.require("verify")
    release = box.releases["current"]
    done = box.installer(f"{MEDIA}-current", "--no-start")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"step 2 (install): install.sh failed ({done.returncode}):\n{output[-5000:]}"
    current = box.root.file("/opt/vomeet/current")
    points_to = current.readlink() if current.is_symlink() else "missing"
    assert Path(points_to).name == release.version, f"step 2 (install): /opt/vomeet/current is {points_to}"
    data = box.root.file(DATA)
    assert data.is_dir() and data.stat().st_mode & 0o777 == 0o700, f"step 2 (install): {DATA} is not a 0700 directory"
    assert box.root.file(UNIT).exists(), f"step 2 (install): {UNIT} not installed"
    assert box.root.file("/etc/systemd/system/multi-user.target.wants/vomeet.service").is_symlink(), \
        "step 2 (install): vomeet.service not enabled"
    assert "vomeet:" in box.root.file("/etc/passwd").read_text(), "step 2 (install): no vomeet system user"
    assert box.root.file("/etc/vomeet/vomeet.toml").exists(), "step 2 (install): no /etc/vomeet/vomeet.toml"
    assert box.root.run(["chromium-headless-shell", "--version"]).returncode == 0, \
        "step 2 (install): the bots' browser is not installed from the image's packages"
    # They must find every shared library on the box: a clean root lacks much that this machine has.
    for program in EXTERNAL_PROGRAMS:
        linked = box.root.run(["ldd", program])
        missing = [line.strip() for line in linked.stdout.splitlines() if "not found" in line]
        assert linked.returncode == 0 and not missing, f"step 2 (install): {program} lacks {missing} {linked.stderr}"
    printed = re.search(r"Certificate fingerprint \(SHA-256\): ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", done.stdout)
    assert printed, f"step 2 (install): the summary shows no certificate fingerprint:\n{tail(done)}"
    box.fingerprint = printed.group(1)
    again = box.installer(f"{MEDIA}-current", "--no-start")
    assert again.returncode == 0 and "nothing changed" in again.stdout, \
        f"step 2 (install twice): a second run changed something or failed:\n{tail(again)}"
    box.done("install")


def test_3_the_installed_frozen_vomeet_serves(box: Box) -> None:
    box.require("install")
    # The test's meeting host: the mock meeting in this namespace (an operator's setting, put where
    # an operator puts settings; the unit reads it).
    # The bots' browser as installed, with one flag: WebRTC skips the loopback interface unless told,
    # and loopback is all this namespace has (a real box's LAN interface needs no such flag).
    browser = box.root.file(LOOPBACK_BROWSER)
    browser.parent.mkdir(parents=True, exist_ok=True)
    browser.write_text("#!/bin/sh\n"
                       'exec /usr/lib/chromium/chromium-headless-shell --allow-loopback-in-peer-connection "$@"\n')
    browser.chmod(0o755)
    env_file = box.root.file("/etc/vomeet/vomeet.env")
    env_file.write_text(f"VOMEET_GOOGLE_MEET_BASE_URL={box.mock.base_url}\nVOMEET_CAPACITY_CPU_CORES=64\n"
                        f"VOMEET_CAPACITY_ASR_LAG_BUDGET_S=3600\nVOMEET_CHROMIUM_PATH={LOOPBACK_BROWSER}\n")
    os.chmod(env_file, 0o640)  # as tmpfiles.d/vomeet.conf sets it: root's, readable by the service
    os.chown(env_file, 0, account(box.root, "vomeet").gid)
    box.start("first")
    seconds = box.wait_ready()
    record(f"installed frozen serve: READY=1 {seconds:.1f} s after ExecStart")
    assert_serving(box, box.releases["current"].version, "step 3 (serve)")
    ready = box.http("GET", "/readyz")
    assert ready.status_code == 200, f"step 3 (serve): /readyz {ready.status_code}: {ready.text}"
    # The LAN port speaks HTTPS with the certificate the service made in its data directory.
    made = box.root.file(f"{DATA}/tls/current/cert.pem").read_text("ascii")
    with box.root.netns.entered(), pinned_client(f"https://127.0.0.1:{box.port}", made) as lan:
        assert lan.get("/tls").json()["current"]["fingerprint"] == fingerprint_of_pem(made)
    assert grouped(fingerprint_of_pem(made)) == box.fingerprint, "step 3: not the certificate install.sh showed"
    box.done("serve")


def test_4_a_user_is_created_through_the_api(box: Box) -> None:
    box.require("serve")
    box.admin_key = admin_key(box)
    user = box.http("POST", "/admin/users", admin=True, json={"email": "owner@example.com"})
    assert user.status_code in (200, 201), f"step 4 (user): {user.status_code} {user.text}"
    token = box.http("POST", f"/admin/users/{user.json()['id']}/tokens", admin=True)
    assert token.status_code == 201, f"step 4 (token): {token.status_code} {token.text}"
    box.token = token.json()["token"]
    assert box.http("GET", "/meetings").status_code == 200, "step 4 (user): the new token is refused"
    box.done("user")


def admin_key(box: Box) -> str:
    """The admin key in the file the installed settings name (install.sh writes it, mode 0600)."""
    settings = tomllib.loads(box.root.file("/etc/vomeet/vomeet.toml").read_text())
    assert "admin_api_key_file" in settings, f"step 4 (user): the installed settings name no admin key file: {settings}"
    key_file = box.root.file(settings["admin_api_key_file"])
    assert key_file.stat().st_mode & 0o077 == 0, f"step 4 (user): {key_file} is readable by others"
    return key_file.read_text().strip()


def test_5_a_bot_joins_a_mock_meeting_and_the_transcript_arrives(box: Box) -> None:
    box.require("user")
    code = "abc-defg-hij"
    box.mock_control("POST", "/control/meetings", json={"id": code, "platform": "meet", "variant": "join-now",
                                                         "participants": ["Alice"]})
    answer = box.http("POST", "/bots", json={"platform": "google_meet", "native_meeting_id": code,
                                             "language": "en", "automatic_leave": QUICK_LEAVE})
    assert answer.status_code == 201, f"step 5 (bot): {answer.status_code} {answer.text}"
    box.meeting = answer.json()

    def status() -> str:
        return str(box.http("GET", f"/meetings/{box.meeting['id']}").json()["status"])

    def transcribed() -> list[dict[str, Any]] | None:
        segments = box.http("GET", f"/transcripts/google_meet/{code}").json()["segments"]
        done = [s for s in segments if s["completed"]]
        return done if done and wer(TURN[1], " ".join(s["text"] for s in done)) < 0.3 else None

    try:
        wait_until(lambda: status() in ("active", "completed", "failed"), 120, 0.5,
                   "step 5: the installed bot to join the mock meeting")
        assert status() == "active", "step 5: the bot ended instead of joining"
        event = box.mock_control("POST", f"/control/meetings/{code}/speak",
                                 json={"participant": TURN[0], "text": TURN[1]})
        wait_until(lambda: any(e["seq"] == event["seq"] and e["played"]
                               for e in box.mock_control("GET", f"/control/meetings/{code}")["speech"]),
                   event["duration_s"] + 20, 0.3, "step 5: the mock to play the turn")
        box.segments = wait_until(transcribed, 90, 0.5, "step 5: the turn's transcript from the installed ASR")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{box.diagnosis()}") from None
    assert {s["speaker"] for s in box.segments} == {"Alice"}, f"step 5: {box.segments}"
    box.http("DELETE", f"/bots/google_meet/{code}")
    wait_until(lambda: status() in ("completed", "failed"), 60, 0.5, "step 5: the bot to leave")
    # Meanwhile the supervisor kept telling systemd it is alive, and what it does.
    assert box.notify is not None
    assert box.notify.received("WATCHDOG", "1"), f"step 5: no WATCHDOG=1 in {box.notify.messages}"
    assert box.notify.received("STATUS"), f"step 5: no STATUS= in {box.notify.messages}"
    box.done("bot")


def test_6_an_upgrade_keeps_every_meeting_and_token(box: Box) -> None:
    box.require("bot")
    upgrade = box.releases["upgrade"]
    box.stop()
    stick = media(box, "upgrade")
    done = box.installer(stick, "--upgrade", "--no-start")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"step 6 (upgrade): install.sh --upgrade failed:\n{output[-5000:]}"
    current = box.root.file("/opt/vomeet/current").readlink()
    assert Path(current).name == upgrade.version, f"step 6 (upgrade): current is {current}"
    box.start("upgraded")
    box.wait_ready()
    assert_serving(box, upgrade.version, "step 6 (upgrade)")
    assert_data_kept(box, "step 6 (upgrade)")
    box.done("upgrade")


def assert_serving(box: Box, version: str, step: str) -> None:
    """The service's main process runs that version's program (through the `current` link)."""
    assert box.main is not None
    exe = Path(f"/proc/{box.main.main_pid()}/exe").readlink()
    assert exe == box.root.file(f"/opt/vomeet/{version}/vomeet"), f"{step}: the service runs {exe}"


def assert_data_kept(box: Box, step: str) -> None:
    """The user's token still works, the meeting is listed, and its transcript reads the same."""
    meetings = box.http("GET", "/meetings")
    assert meetings.status_code == 200, f"{step}: the old token is refused: {meetings.status_code} {meetings.text}"
    listed = [m["id"] for m in meetings.json()["meetings"]]
    assert box.meeting["id"] in listed, f"{step}: meeting {box.meeting['id']} is gone: {listed}"
    code = box.meeting["native_meeting_id"]
    segments = box.http("GET", f"/transcripts/google_meet/{code}").json()["segments"]
    assert [s["text"] for s in segments if s["completed"]] == [s["text"] for s in box.segments], \
        f"{step}: the transcript changed: {segments}"


def test_7_a_rollback_returns_to_the_previous_version(box: Box) -> None:
    box.require("upgrade")
    box.stop()
    done = box.installer(f"{MEDIA}-upgrade", "--rollback", "--no-start")
    assert done.returncode == 0, f"step 7 (rollback): install.sh --rollback failed:\n{tail(done)}"
    current = box.root.file("/opt/vomeet/current").readlink()
    assert Path(current).name == box.releases["current"].version, f"step 7 (rollback): current is {current}"
    box.start("rolled-back")
    box.wait_ready()
    assert_serving(box, box.releases["current"].version, "step 7 (rollback)")
    assert_data_kept(box, "step 7 (rollback)")
    box.done("rollback")


def test_8_uninstall_keeps_the_data(box: Box) -> None:
    box.require("rollback")
    box.stop()
    done = box.installer(f"{MEDIA}-current", "--uninstall", "--no-start")
    assert done.returncode == 0, f"step 8 (uninstall): install.sh --uninstall failed:\n{tail(done)}"
    assert not box.root.file(UNIT).exists(), f"step 8 (uninstall): {UNIT} is still there"
    assert not box.root.file("/opt/vomeet/current").exists(), "step 8 (uninstall): the program is still installed"
    assert box.root.file(f"{DATA}/vomeet.db").exists(), f"step 8 (uninstall): {DATA}/vomeet.db was removed"
    box.done("uninstall")
