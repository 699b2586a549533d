"""The egress recorder sees what a real process sends: a TCP connection, a UDP datagram to an
IPv6 address, a name lookup made by glibc, and which program made each; a UDP socket connected
but never sent through is no destination. Without this the
meeting test (test_egress.py) could pass because the recorder saw nothing."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.egress import recorder
from tests.egress.recorder import Destination

# The child's lookup goes to an address of loopback that nothing serves (glibc is refused at
# once): real resolver code, no packet leaves the machine.
RESOLV_CONF = "nameserver 127.45.0.1\noptions timeout:1 attempts:1\n"
CHILD = """
import socket, subprocess, sys
tcp_port, udp_port = int(sys.argv[1]), int(sys.argv[2])
socket.create_connection(("127.0.0.1", tcp_port)).close()
with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
    udp.sendto(b"hello", ("::1", udp_port))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
    try:  # a route probe, as WebRTC makes: nothing is sent
        probe.connect(("198.51.100.1", 53))
    except OSError:
        pass
# From a child process: the lookup must be pinned to the program that made it.
subprocess.run(["getent", "ahosts", "update.googleapis.com"])
"""


def test_recorder_sees_connections_datagrams_and_lookups(tmp_path: Path) -> None:
    recorder.require_tracer()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(RESOLV_CONF)
    log = tmp_path / "trace.log"
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sink:
        sink.bind(("::1", 0))
        tcp_port, udp_port = server.getsockname()[1], sink.getsockname()[1]
        traced = [*recorder.command(log), sys.executable, "-c", CHILD, str(tcp_port), str(udp_port)]
        # A mount namespace of its own, so that the bind-mounted resolv.conf is the child's only.
        done = subprocess.run(["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
                               str(resolv), *traced], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sink.recv(16) == b"hello"
    recorder.wait_done(log)
    egress = recorder.read(log)
    print(egress.report())
    python = Path(sys.executable).name
    assert egress.destinations[Destination("127.0.0.1", tcp_port, "tcp")] == {python}
    assert egress.destinations[Destination("::1", udp_port, "udp")] == {python}
    assert egress.destinations[Destination("127.45.0.1", 53, "udp")] == {"getent"}
    assert egress.lookups["update.googleapis.com"] == {"getent"}
    assert Destination("198.51.100.1", 53, "udp") in egress.routes
    assert Destination("198.51.100.1", 53, "udp") not in egress.destinations
