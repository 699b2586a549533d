"""What a process tree sends out, read from an `strace -f` log.

`command(log)` is the prefix that runs a command under strace, tracing the calls by which a
process reaches anything outside itself: connect (TCP, connected UDP, UNIX sockets), sendto /
sendmsg / sendmmsg with an address (unconnected UDP: STUN, mDNS, DNS), plus execve and the
clone family so that every line can be pinned to the program that made it. `-D` keeps strace
out of the way: the command keeps the pid its caller started, strace runs as a detached
grandchild and ends when the last traced process does.

`read(log)` turns the log into `Egress`: every internet-address destination (host, port,
protocol, the programs that used it), every DNS name found in a packet sent to port 53 or 5353
(the resolver, mDNS), and every UNIX socket connected to (with those of name resolvers marked).
Strings are logged in hex (`-xx`), so no payload can break the parsing.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import in_ci, wait_until

TRACED = "connect,sendto,sendmsg,sendmmsg,execve,clone,clone3,fork,vfork"
DNS_PORTS = {53: "dns", 5353: "mdns", 5355: "llmnr"}
# UNIX sockets through which glibc or a system daemon answers name lookups.
RESOLVER_SOCKETS = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/",
                    "/var/run/avahi-daemon/socket", "/run/avahi-daemon/socket")


def strace_path() -> str | None:
    return shutil.which("strace")


def command(log: Path) -> list[str]:
    strace = strace_path()
    assert strace, "strace is not installed (make system-deps installs it)"
    # --seccomp-bpf: the kernel stops a tracee only at the traced calls (without it, at every
    # call, which would slow Chromium and the ASR many times over).
    return [strace, "-D", "-f", "--seccomp-bpf", "-qq", "-Y", "-yy", "-xx", "-s", "320", "-e", "signal=none",
            "-e", f"trace={TRACED}", "-o", str(log)]


@dataclass(frozen=True, order=True)
class Destination:
    host: str
    port: int
    protocol: str  # tcp, udp, or ip when the socket's kind was not logged

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol} {host}:{self.port}"


@dataclass
class Egress:
    destinations: dict[Destination, set[str]] = field(default_factory=lambda: defaultdict(set))
    lookups: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # name -> programs
    unix: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # path -> programs
    # UDP sockets connected but sent nothing through: no packet left (route probes).
    routes: dict[Destination, set[str]] = field(default_factory=lambda: defaultdict(set))
    programs: set[str] = field(default_factory=set)  # every program that ran in the tree
    lines: int = 0

    @property
    def resolver_sockets(self) -> dict[str, set[str]]:
        """UNIX sockets of name resolvers that a connect reached (a refused one reached nothing)."""
        return {path: who for path, who in self.unix.items()
                if path.endswith(" (connected)") and path.startswith(RESOLVER_SOCKETS)}

    def report(self) -> str:
        out = [f"{len(self.programs)} programs traced ({self.lines} log lines): {', '.join(sorted(self.programs))}",
               "destinations (internet addresses):"]
        out += [f"  {d}  <- {', '.join(sorted(who))}" for d, who in sorted(self.destinations.items())] or ["  none"]
        silent = {d: who for d, who in self.routes.items() if d not in self.destinations}
        out.append("UDP sockets connected, nothing sent (route probes):")
        out += [f"  {d}  <- {', '.join(sorted(who))}" for d, who in sorted(silent.items())] or ["  none"]
        out.append("name lookups:")
        out += [f"  {name}  <- {', '.join(sorted(who))}" for name, who in sorted(self.lookups.items())] or ["  none"]
        out.append("UNIX sockets:")
        out += [f"  {path}  <- {', '.join(sorted(who))}" for path, who in sorted(self.unix.items())] or ["  none"]
        return "\n".join(out)


_LINE = re.compile(r"^(\d+)(?:<[^>]*>)? (.*)$")
_CALL = re.compile(r"^(\w+)\((.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_HEX = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]*)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\),.*?inet_pton\(AF_INET6, "([^"]*)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=(@?)"([^"]*)"')
_FD = re.compile(r"^\d+<(TCP|UDP|TCPv6|UDPv6|UNIX[^:]*):\[(.*?)\]>")
_PEER = re.compile(r"->\[?([0-9a-fA-F.:]+?)\]?:(\d+)$")
_RESULT = re.compile(r"\) = (-?\d+)")
_PAYLOAD = re.compile(r'(?:iov_base=|^\d+<.*?\]>, )"((?:\\x[0-9a-f]{2})*)"')


def text(hex_escaped: str) -> bytes:
    return bytes.fromhex(hex_escaped.replace("\\x", ""))


def dns_name(packet: bytes, tcp: bool = False) -> str | None:
    """The first question's name of a DNS query (over TCP, after the 2-byte length)."""
    if tcp:
        packet = packet[2:]
    if len(packet) < 13 or packet[2] & 0x80:  # too short, or an answer
        return None
    labels, at = [], 12
    while at < len(packet) and packet[at]:
        size = packet[at]
        if size & 0xC0 or at + 1 + size > len(packet):
            return None
        labels.append(packet[at + 1:at + 1 + size].decode("ascii", "replace"))
        at += 1 + size
    return ".".join(labels).lower() or None


def read(log: Path) -> Egress:
    egress = Egress()
    programs: dict[int, str] = {}
    pending: dict[int, str] = {}
    for raw in log.read_text(errors="replace").splitlines():
        match = _LINE.match(raw)
        if not match:
            continue
        pid, rest = int(match.group(1)), match.group(2)
        resumed = _RESUMED.match(rest)
        if resumed:
            rest = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest.removesuffix("<unfinished ...>")
            continue
        call = _CALL.match(rest)
        if not call:
            continue
        egress.lines += 1
        _one(egress, programs, pid, call.group(1), call.group(2))
    egress.programs = set(programs.values())
    return egress


def _program(argv: list[str]) -> str:
    name = Path(argv[0]).name if argv else "?"
    if name.startswith("python") and len(argv) > 2 and argv[1] == "-m":
        command = argv[3] if len(argv) > 3 and not argv[3].startswith("-") else ""
        return f"{name} -m {argv[2]} {command}".rstrip()  # e.g. python3 -m appliance asr
    return name


def _one(egress: Egress, programs: dict[int, str], pid: int, name: str, args: str) -> None:
    result = _RESULT.search(args)
    ok = result is not None and int(result.group(1)) >= 0
    who = programs.get(pid, "?")
    if name == "execve":
        if ok:
            strings = [text(s).decode(errors="replace") for s in _HEX.findall(args.split("], ", 1)[0])]
            if strings[0] != "/proc/self/exe":  # Chromium starting its helpers: the same program
                programs[pid] = _program(strings[1:] or strings)
        return
    if name in ("clone", "clone3", "fork", "vfork"):
        if ok and int(result.group(1)) > 0:  # type: ignore[union-attr]
            programs[int(result.group(1))] = who  # type: ignore[union-attr]
        return
    socket_kind, peer = _socket(args)
    # Every address named in the call (connect's one, or each message's msg_name).
    addressed = [(text(h).decode(), int(p)) for p, h in _INET.findall(args)]
    addressed += [(_unmapped(text(h).decode()), int(p)) for p, h in _INET6.findall(args)]
    for flag, path in _UNIX.findall(args):
        shown = ("@" if flag else "") + text(path).decode(errors="replace")
        if name == "connect":
            egress.unix[shown + (" (connected)" if ok else " (refused)")].add(who)
    protocol = {"TCP": "tcp", "TCPv6": "tcp", "UDP": "udp", "UDPv6": "udp"}.get(socket_kind, "ip")
    if name == "connect" and protocol == "udp":
        # Connecting a UDP socket sends nothing: it sets the peer of later sends (counted
        # below, from the socket's annotation) or asks the kernel for a route (WebRTC does).
        for host, port in addressed:
            egress.routes[Destination(host, port, protocol)].add(who)
        return
    for host, port in addressed:
        egress.destinations[Destination(host, port, protocol)].add(who)
    if name == "connect":
        return
    if not addressed and peer and protocol == "udp":
        egress.destinations[Destination(_unmapped(peer[0]), peer[1], protocol)].add(who)
    # A lookup: a packet to a DNS, mDNS or LLMNR port, addressed or on a connected socket.
    ports = {port for _, port in addressed} | ({peer[1]} if peer and not addressed else set())
    if ports & DNS_PORTS.keys():
        for payload in _PAYLOAD.findall(args):
            found = dns_name(text(payload), tcp=protocol == "tcp")
            if found:
                egress.lookups[found].add(who)


def _unmapped(host: str) -> str:
    """An IPv4 address reached through a dual-stack socket (::ffff:a.b.c.d) as itself."""
    if ":" not in host:
        return host
    mapped = ipaddress.IPv6Address(host).ipv4_mapped
    return str(mapped) if mapped else host


def _socket(args: str) -> tuple[str, tuple[str, int] | None]:
    """The socket's kind and its peer, from strace's -yy annotation of the first argument."""
    match = _FD.match(args)
    if not match:
        return "", None
    peer = _PEER.search(match.group(2))
    return match.group(1), ((peer.group(1), int(peer.group(2))) if peer else None)


def require_tracer() -> None:
    """Skip without strace or root on a developer's machine; fail in CI, where `make test`
    installs strace and runs as root, so that the proof is never silently left out."""
    missing = [why for why, bad in (("strace is not installed", strace_path() is None),
                                    ("tracing the tree and its namespaces needs root", os.geteuid() != 0)) if bad]
    if not missing:
        return
    if in_ci():
        pytest.fail(f"{'; '.join(missing)} (make system-deps installs strace)")
    pytest.skip("; ".join(missing))


def wait_done(log: Path, timeout_s: float = 60) -> None:
    """Wait for the strace writing `log` to exit (it does when the last traced process has):
    only then is the log complete."""

    def tracing() -> bool:
        for process in psutil.process_iter(["name", "cmdline"]):
            if process.info["name"] == "strace" and str(log) in (process.info["cmdline"] or []):
                return True
        return False

    wait_until(lambda: not tracing(), timeout_s, 0.2, f"the tracer writing {log} to exit")
