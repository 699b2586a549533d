"""mDNS between two machines: two network namespaces joined by a veth pair, with addresses of
the test's own (10.213.0.0/24), the appliance in one and a desktop's view in the other. Real
multicast on a real link, never the host's LAN. Needs root (`ip netns`); skipped elsewhere with
the reason, failed under CI where it must run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.config import Settings
from appliance.tls import current_fingerprint
from tests.conftest import REPO, Appliance, appliance_env, in_ci, require_programs, wait_until

APPLIANCE_AT, DESKTOP_AT, MOVED_TO = "10.213.0.1", "10.213.0.2", "10.213.0.5"
_names = itertools.count()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Lan:
    appliance_ns: str
    desktop_ns: str


@pytest.fixture
def lan() -> Iterator[Lan]:
    """ns A: lan0 (the LAN), cni0 (a k3s-style bridge) and a veth pair (a pod's), all with
    addresses; ns B: lan1, the other end of lan0."""
    require_programs("ip")
    if os.geteuid() != 0:
        message = "needs root to make network namespaces (ip netns)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    tag = f"{os.getpid()}-{next(_names)}"
    net = Lan(f"vomeet-a-{tag}", f"vomeet-b-{tag}")
    a, b = net.appliance_ns, net.desktop_ns
    try:
        ip("netns", "add", a)
        ip("netns", "add", b)
        ip("link", "add", "lan0", "netns", a, "type", "veth", "peer", "name", "lan1", "netns", b)
        ip("-n", a, "link", "add", "cni0", "type", "bridge")
        ip("-n", a, "link", "add", "veth3a9c", "type", "veth", "peer", "name", "veth3a9d")
        for ns, device, address in (
            (a, "lan0", f"{APPLIANCE_AT}/24"), (a, "cni0", "10.42.0.1/24"), (a, "veth3a9c", "10.42.1.1/24"),
            (b, "lan1", f"{DESKTOP_AT}/24"),
        ):
            ip("-n", ns, "addr", "add", address, "dev", device)
        for ns, devices in ((a, ("lo", "lan0", "cni0", "veth3a9c", "veth3a9d")), (b, ("lo", "lan1"))):
            for device in devices:
                ip("-n", ns, "link", "set", device, "up")
    except subprocess.CalledProcessError as exc:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        message = f"cannot make network namespaces here: {exc.stderr.strip()}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield net
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def sighting(data_dir: Path, device_id: str) -> tuple[Any, ...] | None:
    """The device registry's row for `device_id`, read from the appliance's database."""
    with contextlib.closing(sqlite3.connect(data_dir / "vomeet.db")) as db:
        row = db.execute(
            "SELECT name, version, addresses, port, gone_at FROM device_sightings WHERE device_id = ?", (device_id,)
        ).fetchone()
    return None if row is None else (row[0], row[1], json.loads(row[2]), row[3], row[4])


@dataclass
class Peer:
    """tests/discovery/mdns_peer.py in a namespace; what it prints, parsed, in `said`."""

    process: subprocess.Popen[str]
    said: list[dict[str, Any]] = field(default_factory=list)
    _read_to: int = 0  # what `heard` has looked through: each call waits for something newer

    @classmethod
    def start(cls, ns: str, *args: str) -> Peer:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "tests.discovery.mdns_peer", *args],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        peer = cls(process)
        threading.Thread(target=peer._read, daemon=True).start()
        return peer

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.said.append(json.loads(line))

    def heard(self, what: str, test: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0) -> dict[str, Any]:
        """The first message, after the one the last call returned, for which `test` holds."""
        def found() -> dict[str, Any] | None:
            for index in range(self._read_to, len(self.said)):
                if test(self.said[index]):
                    self._read_to = index + 1
                    return self.said[index]
            return None

        message: dict[str, Any] = wait_until(found, timeout_s, what=what)
        return message

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_the_box_is_seen_at_its_lan_address_only_and_followed_when_the_address_changes(
    lan: Lan, tmp_path: Path
) -> None:
    watcher = Peer.start(lan.desktop_ns, "watch", "_vomeet._tcp.local.", DESKTOP_AT)
    watcher.heard("the watcher to start", lambda m: "watching" in m)
    appliance = Peer.start(lan.appliance_ns, "appliance", str(tmp_path))
    try:
        started = appliance.heard("the appliance to announce", lambda m: "started" in m)["started"]
        assert started["addresses"] == [{"interface": "lan0", "address": APPLIANCE_AT}]  # not cni0, not veth
        added = watcher.heard("the desktop to see the box", lambda m: m.get("change") == "Added")
        assert added["name"] == "meeting-room._vomeet._tcp.local."
        assert added["addresses"] == [APPLIANCE_AT]
        fingerprint = current_fingerprint(Settings(data_dir=tmp_path, tls="on"))
        assert added["txt"]["fp"] == fingerprint and added["txt"]["tls"] == "1"

        # A new lease: the new address comes, then the old one goes (kept from taking the new,
        # secondary one with it, as Linux would by default).
        subprocess.run(["ip", "netns", "exec", lan.appliance_ns, "sysctl", "-qw",
                        "net.ipv4.conf.lan0.promote_secondaries=1"], check=True)
        moved_at = time.monotonic()
        ip("-n", lan.appliance_ns, "addr", "add", f"{MOVED_TO}/24", "dev", "lan0")
        ip("-n", lan.appliance_ns, "addr", "del", f"{APPLIANCE_AT}/24", "dev", "lan0")
        watcher.heard(
            "the desktop to see the box at its new address", timeout_s=10,
            test=lambda m: m.get("change") == "Updated" and MOVED_TO in m["addresses"],
        )
        print(f"re-announced at the new address after {time.monotonic() - moved_at:.1f} s")
        # The old address is no longer announced: a desktop asking now hears the new one only. (One
        # that heard both forgets the old within a second: the A records carry the cache-flush bit.)
        asked = Peer.start(lan.desktop_ns, "resolve", "meeting-room._vomeet._tcp.local.", DESKTOP_AT)
        assert asked.heard("a fresh resolve", lambda m: "resolved" in m)["addresses"] == [MOVED_TO]

        # The cable out: no LAN address, so nothing to announce on (and no way to say goodbye);
        # back in: announced again by itself, where a desktop asking finds it.
        ip("-n", lan.appliance_ns, "addr", "flush", "dev", "lan0")
        state = tmp_path / "run" / "mdns.json"
        wait_until(lambda: not state.exists(), 10, what="the appliance to withdraw with no LAN address")
        ip("-n", lan.appliance_ns, "addr", "add", f"{APPLIANCE_AT}/24", "dev", "lan0")
        wait_until(state.exists, 10, what="the appliance to announce again")
        asked = Peer.start(lan.desktop_ns, "resolve", "meeting-room._vomeet._tcp.local.", DESKTOP_AT)
        assert asked.heard("a resolve once back", lambda m: "resolved" in m)["addresses"] == [APPLIANCE_AT]

        appliance.stop()
        watcher.heard("the goodbye", lambda m: m.get("change") == "Removed")
    finally:
        appliance.stop()
        watcher.stop()


def test_the_appliance_hears_a_desktop_client_on_the_lan(lan: Lan, tmp_path: Path) -> None:
    device_id = str(uuid.uuid4())
    appliance = Peer.start(lan.appliance_ns, "appliance", str(tmp_path))
    client = None
    try:
        appliance.heard("the appliance to start", lambda m: "started" in m)
        client = Peer.start(lan.desktop_ns, "client", device_id, DESKTOP_AT)
        seen = appliance.heard("the client's sighting", lambda m: m.get("seen", {}).get("device_id") == device_id)
        assert seen["seen"] == {
            "device_id": device_id, "name": "Ana's laptop", "version": "0.3.0",
            "addresses": [DESKTOP_AT], "port": 40123,
        }
        client.heard("the client's announcement to be done", lambda m: "announced" in m)
        client.stop()
        appliance.heard("the client leaving", lambda m: m.get("gone") == device_id)
    finally:
        if client is not None:
            client.stop()
        appliance.stop()


def test_vomeet_serve_is_announced_once_it_answers_and_says_goodbye_when_stopped(lan: Lan, tmp_path: Path) -> None:
    """The real `vomeet serve` (TLS on, as on a LAN): when a desktop hears of it, the announced
    address and port already answer over HTTPS with the certificate whose fingerprint the TXT
    gives; a desktop client announcing itself is recorded for the Devices page, and marked gone
    when it leaves; SIGTERM withdraws the box."""
    env = appliance_env(tmp_path / "data", 8056, host="0.0.0.0", mdns_name="meeting-room")
    watcher = Peer.start(lan.desktop_ns, "watch", "_vomeet._tcp.local.", DESKTOP_AT)
    watcher.heard("the watcher to start", lambda m: "watching" in m)
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        ["ip", "netns", "exec", lan.appliance_ns, sys.executable, "-m", "appliance", "serve"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        added = watcher.heard("the desktop to hear of the box", lambda m: m.get("change") == "Added", timeout_s=60)
        assert added["addresses"] == [APPLIANCE_AT] and added["txt"]["tls"] == "1"
        first_contact = Peer.start(lan.desktop_ns, "fetch", APPLIANCE_AT, "8056")
        answer = first_contact.heard("the desktop's first contact", lambda m: "healthz" in m)
        assert answer == {"fingerprint": added["txt"]["fp"], "healthz": 200}

        device_id = str(uuid.uuid4())
        desktop = Peer.start(lan.desktop_ns, "client", device_id, DESKTOP_AT)
        try:
            seen = wait_until(lambda: sighting(tmp_path / "data", device_id), 15, what="the client's sighting")
            assert seen == ("Ana's laptop", "0.3.0", [DESKTOP_AT], 40123, None)
            desktop.heard("the client's announcement to be done", lambda m: "announced" in m)
        finally:
            desktop.stop()
        def gone_at() -> Any:
            row = sighting(tmp_path / "data", device_id)
            return row is not None and row[-1]

        wait_until(gone_at, 15, what="the client marked gone")

        serve.send_signal(signal.SIGTERM)
        watcher.heard("the goodbye", lambda m: m.get("change") == "Removed", timeout_s=30)
        assert serve.wait(60) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
            Appliance(tmp_path / "data", env, 8056).reap_leftovers()  # its worker, in a session of its own
        log.close()
        watcher.stop()
