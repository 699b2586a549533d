"""The clean root and its network namespace are what the install test claims they are: Debian's
minimal base of this machine's release with nothing of the appliance's needs preinstalled, no
network but loopback, and commands isolated from the host's processes and mounts."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from tests.packaging.clean_root import CleanRoot, Netns, host_release, mounts_under


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
    seen = clean_root.sh("echo $$; ls /proc | grep -c '^[0-9]'; grep -c ' /dev/shm ' /proc/mounts")
    pid, processes, _ = seen.stdout.split()
    assert pid == "1", "the command is not PID 1 of its own PID namespace"
    assert int(processes) < 10, f"{processes} processes visible: the host's leak in"
    assert mounts_under(clean_root.path) == [], "a command's mounts leaked onto the host"


@pytest.mark.usefixtures("root_tools")
def test_a_closed_namespace_is_gone() -> None:
    namespace = Netns()
    assert namespace.path.exists()
    namespace.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert namespace.name not in listed and not namespace.path.exists()
