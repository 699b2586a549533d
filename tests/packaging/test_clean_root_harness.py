"""The clean root and its network namespace are what the install test claims they are: Debian's
minimal base of this machine's release with nothing of the appliance's needs preinstalled, no
network but loopback, and commands isolated from the host's processes and mounts."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import wait_until
from tests.packaging.clean_root import CleanRoot, Netns, host_release, mounts_under
from tests.packaging.service_unit import NotifySocket, Service, account


def test_root_is_a_minimal_debian_of_this_release(clean_root: CleanRoot) -> None:
    release = clean_root.sh(". /etc/os-release; echo $VERSION_CODENAME")
    assert release.stdout.strip() == host_release(), release.stderr
    installed = clean_root.run(["dpkg-query", "-W", "-f", "${Package}\\n"]).stdout.split()
    assert "systemd" in installed, "the root lacks systemd, which the units need"
    # What the appliance needs must come off the image, not from the root.
    for absent in ("python3", "chromium-headless-shell", "fonts-noto-cjk", "zstd", "minisign"):
        assert absent not in installed, f"{absent} is preinstalled in the clean root"
    assert len(installed) < 200, f"{len(installed)} packages: not a minimal root"


def test_namespace_has_only_loopback_and_no_route(clean_root: CleanRoot, netns: Netns) -> None:
    links = subprocess.run(["ip", "-n", netns.name, "-o", "link"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
    for family in ("-4", "-6"):
        routes = subprocess.run(["ip", "-n", netns.name, family, "route", "show", "table", "main"],
                                capture_output=True, text=True, check=True).stdout
        assert "default" not in routes, f"a default route in the test namespace: {routes}"
        assert all("dev lo" in line for line in routes.splitlines()), routes
    # The root's commands see the same: only lo, an empty IPv4 routing table, and an address off
    # loopback unreachable at once (no route), not after a timeout.
    inside = clean_root.sh("ls /sys/class/net; tail -n +2 /proc/net/route")
    assert inside.stdout.split() == ["lo"], inside.stdout + inside.stderr
    unreachable = clean_root.run(["bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/80"], timeout_s=10)
    assert unreachable.returncode != 0
    assert "Network is unreachable" in unreachable.stderr, unreachable.stderr


def test_loopback_is_shared_with_the_test_process(clean_root: CleanRoot, netns: Netns) -> None:
    """What the mock meeting relies on: a server the test runs in the namespace is reachable on
    127.0.0.1 from inside the root."""
    received: list[bytes] = []
    with netns.entered():
        server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept() -> None:
        server.settimeout(30)
        conn, _ = server.accept()
        with conn:
            received.append(conn.recv(100))

    thread = threading.Thread(target=accept)
    thread.start()
    sent = clean_root.run(["bash", "-c", f"echo from-the-root > /dev/tcp/127.0.0.1/{port}"], timeout_s=30)
    thread.join(timeout=30)
    server.close()
    assert sent.returncode == 0, sent.stderr
    assert received == [b"from-the-root\n"]
    # The same port is not open in the host's namespace: the test's namespace is a separate one.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_commands_are_isolated_from_host_processes_and_mounts(clean_root: CleanRoot) -> None:
    marker = Path("/dev/shm") / f"host-{os.getpid()}"
    marker.write_text("the host's shared memory")
    try:
        seen = clean_root.sh("echo $$; ls /proc | grep '^[0-9]' | wc -l; ls -A /dev/shm | wc -l")
    finally:
        marker.unlink()
    pid, processes, shm_files = seen.stdout.split()
    assert int(pid) < 10, f"the command is pid {pid}: not in a PID namespace of its own"
    assert int(processes) < 10, f"{processes} processes visible: the host's leak in"
    assert shm_files == "0", "the host's /dev/shm is visible: no /dev/shm of its own"
    assert mounts_under(clean_root.path) == [], "a command's mounts leaked onto the host"


@pytest.mark.usefixtures("root_tools")
def test_a_closed_namespace_is_gone() -> None:
    namespace = Netns()
    assert namespace.path.exists()
    namespace.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert namespace.name not in listed and not namespace.path.exists()


PROBE_UNIT = """\
[Unit]
Description=harness probe

[Service]
Type=notify
User=nobody
Environment=GREETING=hello "SPACED=a b"
EnvironmentFile=/etc/probe.env
EnvironmentFile=-/etc/probe-missing.env
StateDirectory=probe
StateDirectoryMode=0750
UMask=0027
PrivateTmp=yes
ExecStart=/bin/sh -c '\\
  trap "exit 0" TERM; \\
  { id -un; echo "$GREETING|$SPACED|$FROM_FILE|$HOME"; umask; echo "tmp:$(ls -A /tmp)"; } > "$STATE_DIRECTORY/seen"; \\
  systemd-notify --ready --status="probe up"; \\
  while :; do sleep 0.1; done'
"""


def test_a_unit_runs_as_its_user_with_its_environment_and_notifies(clean_root: CleanRoot, tmp_path: Path) -> None:
    """The service runner the install test relies on, on a probe unit: the user switch, Environment=
    and EnvironmentFile=, StateDirectory= with its mode and owner, UMask=, a private /tmp, READY=1
    and STATUS= on a real notify socket, and a stop that ends the main process by SIGTERM."""
    clean_root.file("/etc/systemd/system/probe.service").write_text(PROBE_UNIT)
    clean_root.file("/etc/probe.env").write_text("# comment\nFROM_FILE='from the file'\n")
    clean_root.file("/tmp/host-side").write_text("must not be seen with PrivateTmp=yes")
    service = Service(clean_root, "/etc/systemd/system/probe.service")
    service.prepare()
    notify = NotifySocket(clean_root)
    main = service.start_main(notify, tmp_path / "probe.log")
    try:
        wait_until(lambda: notify.received("READY", "1") or not main.alive(), 30, 0.1, "READY=1 from the probe")
        assert notify.received("STATUS", "probe up"), (notify.messages, main.tail())
    finally:
        status = main.stop(timeout_s=30)
        notify.close()
    assert status == 0, main.tail()
    state = clean_root.file("/var/lib/probe")
    assert state.stat().st_mode & 0o777 == 0o750 and state.stat().st_uid == account(clean_root, "nobody").uid
    user, env, umask, tmp = (state / "seen").read_text().splitlines()
    assert user == "nobody"
    assert env == "hello|a b|from the file|/nonexistent"
    assert umask == "0027"
    assert tmp == "tmp:"  # an empty private /tmp
