"""Run an installed systemd service the way systemd would, where systemd cannot be PID 1.

The unit file is parsed as systemd reads it (systemd.syntax(7), systemd.service(5),
systemd.exec(5)): sections, repeated keys accumulating, an empty assignment resetting a list,
backslash continuations; Environment= and EnvironmentFile= (a leading `-` tolerates a missing file);
`$VAR` / `${VAR}` expansion and the `-` / `+` / `:` prefixes of Exec lines; User= / Group= /
SupplementaryGroups=, WorkingDirectory=, UMask=, PrivateTmp=, the State/Cache/Logs/Runtime/
Configuration directories (created and owned as systemd does, their variables set), LoadCredential=
(copied to a credentials directory, $CREDENTIALS_DIRECTORY), WatchdogSec= ($WATCHDOG_USEC) and a
real notify socket ($NOTIFY_SOCKET). Any other setting that changes what the command sees is refused
(so the emulation never silently differs); sandboxing settings (ProtectSystem=, ...) are not applied
here: `systemd-analyze security` checks those.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.packaging.clean_root import CleanRoot

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The host-side wrapper (nsenter, unshare, mount, chroot) needs a PATH; the service gets only what
# `env -i` hands it inside the root.
WRAPPER_ENV = {"PATH": SYSTEMD_PATH}
# Settings that change a command's process environment which this emulation does not implement.
UNSUPPORTED = ("DynamicUser", "RootDirectory", "RootImage", "BindPaths", "BindReadOnlyPaths",
               "TemporaryFileSystem", "PassEnvironment", "UnsetEnvironment", "SetCredential",
               "LoadCredentialEncrypted", "ImportCredential", "RuntimeDirectoryPreserve",
               "ExecCondition")
DIRECTORIES = {  # setting -> (base directory, environment variable, owned by the service user)
    "StateDirectory": ("/var/lib", "STATE_DIRECTORY", True),
    "CacheDirectory": ("/var/cache", "CACHE_DIRECTORY", True),
    "LogsDirectory": ("/var/log", "LOGS_DIRECTORY", True),
    "RuntimeDirectory": ("/run", "RUNTIME_DIRECTORY", True),
    "ConfigurationDirectory": ("/etc", "CONFIGURATION_DIRECTORY", False),
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> values in order (an empty assignment clears the earlier ones)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"not a unit file line: {raw!r}")
        key, _, value = line.partition("=")
        values = current.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return sections


def parse_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads an EnvironmentFile= (comments, optional quotes)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value) if value.strip() else [""]
        env[key.strip()] = " ".join(words)
    return env


def expand(command: str, env: dict[str, str]) -> list[str]:
    """An Exec line's words with `$VAR` (split into words) and `${VAR}` (kept as one) expanded
    and `%%` unescaped; other specifiers are refused."""
    words: list[str] = []
    for word in shlex.split(command):
        if re.search(r"%[^%]", word.replace("%%", "")):
            raise NotImplementedError(f"unit specifier in {word!r}")
        word = word.replace("%%", "%")
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            words.extend(env.get(whole.group(1), "").split())
            continue
        words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return words


def seconds(value: str) -> float:
    """A systemd time span ("30", "30s", "1min 30s", "500ms")."""
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def account(root: CleanRoot, user: str) -> Account:
    for line in root.file("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user or fields[2] == user:
            return Account(fields[0], int(fields[2]), int(fields[3]), fields[5], fields[6])
    raise LookupError(f"no user {user!r} in the root's /etc/passwd")


def group_id(root: CleanRoot, group: str) -> int:
    for line in root.file("/etc/group").read_text().splitlines():
        fields = line.split(":")
        if group in (fields[0], fields[2]):
            return int(fields[2])
    raise LookupError(f"no group {group!r} in the root's /etc/group")


def member_of(root: CleanRoot, user: str) -> list[int]:
    """The supplementary groups /etc/group gives `user` (what initgroups(3) would set)."""
    gids = []
    for line in root.file("/etc/group").read_text().splitlines():
        fields = line.split(":")
        if user in fields[3].split(","):
            gids.append(int(fields[2]))
    return gids


class NotifySocket:
    """A real sd_notify socket (AF_UNIX datagram) bound inside the root; every message received is
    kept as a dict of its KEY=VALUE lines, in order."""

    def __init__(self, root: CleanRoot, inside: str = "/run/vomeet-test/notify") -> None:
        self.inside = inside
        host_path = root.file(inside)
        host_path.parent.mkdir(parents=True, exist_ok=True)
        host_path.unlink(missing_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(host_path))
        os.chmod(host_path, 0o666)  # the service's user must be able to send to it
        self.messages: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._receive, daemon=True, name="notify-socket")
        self._thread.start()

    def _receive(self) -> None:
        self._sock.settimeout(0.2)
        while not self._closed:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append(fields)

    def received(self, key: str, value: str | None = None) -> list[dict[str, str]]:
        with self._lock:
            return [m for m in self.messages if key in m and (value is None or m[key] == value)]

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)
        self._sock.close()


@dataclass
class Service:
    """An installed unit, parsed from the root, and the commands it runs."""

    root: CleanRoot
    unit_path: str
    sections: dict[str, dict[str, list[str]]] = field(init=False)

    def __post_init__(self) -> None:
        self.sections = parse_unit(self.root.file(self.unit_path).read_text())
        used = [key for key in UNSUPPORTED if key in self.service]
        if used:
            raise NotImplementedError(f"{self.unit_path}: not emulated: {', '.join(used)}")

    @property
    def service(self) -> dict[str, list[str]]:
        return self.sections.get("Service", {})

    def value(self, key: str, default: str = "") -> str:
        values = self.service.get(key, [])
        return values[-1] if values else default

    def flag(self, key: str) -> bool:
        return self.value(key).lower() in ("yes", "true", "1", "on")

    def user(self) -> Account | None:
        user = self.value("User")
        return account(self.root, user) if user else None

    def environment(self, notify: NotifySocket | None = None) -> dict[str, str]:
        """The environment systemd gives the service's commands."""
        env = {"PATH": SYSTEMD_PATH, "INVOCATION_ID": os.urandom(16).hex()}
        user = self.user()
        if user:
            env.update(USER=user.name, LOGNAME=user.name, HOME=user.home, SHELL=user.shell)
        for setting, (base, variable, _) in DIRECTORIES.items():
            names = " ".join(self.service.get(setting, [])).split()
            if names:
                env[variable] = ":".join(f"{base}/{name}" for name in names)
        if self.service.get("LoadCredential"):
            env["CREDENTIALS_DIRECTORY"] = self.credentials_dir()
        if self.value("WatchdogSec"):
            env["WATCHDOG_USEC"] = str(int(seconds(self.value("WatchdogSec")) * 1_000_000))
        if notify is not None:
            env["NOTIFY_SOCKET"] = notify.inside
        for assignments in self.service.get("Environment", []):
            for word in shlex.split(assignments):
                key, _, value = word.partition("=")
                env[key] = value
        for entry in self.service.get("EnvironmentFile", []):
            optional, path = entry.startswith("-"), entry.lstrip("-")
            host_file = self.root.file(path)
            if not host_file.exists():
                if optional:
                    continue
                raise FileNotFoundError(f"EnvironmentFile={path} is missing in the root")
            env.update(parse_environment_file(host_file.read_text()))
        return env

    def credentials_dir(self) -> str:
        return f"/run/credentials/{Path(self.unit_path).name}"

    def prepare(self) -> None:
        """What systemd does before the first command: the service's directories, its credentials."""
        user = self.user()
        for setting, (base, _, owned) in DIRECTORIES.items():
            mode = int(self.value(setting.replace("Directory", "DirectoryMode"), "0755"), 8)
            for name in " ".join(self.service.get(setting, [])).split():
                path = self.root.file(f"{base}/{name}")
                path.mkdir(parents=True, exist_ok=True)
                os.chmod(path, mode)
                if owned and user:
                    os.chown(path, user.uid, user.gid)
        creds = self.service.get("LoadCredential", [])
        if creds:
            target = self.root.file(self.credentials_dir())
            target.mkdir(parents=True, exist_ok=True)
            for entry in creds:
                name, _, source = entry.partition(":")
                data = self.root.file(source or f"/etc/credstore/{name}").read_bytes()
                (target / name).write_bytes(data)
                os.chmod(target / name, 0o400)
                if user:
                    os.chown(target / name, user.uid, user.gid)
            os.chmod(target, 0o500)
            if user:
                os.chown(target, user.uid, user.gid)

    def command_argv(self, line: str, env: dict[str, str]) -> tuple[list[str], bool]:
        """One Exec line -> (the command inside the root with its user switch, failure ignored)."""
        prefixes = re.match(r"[-@:+!]*", line)
        assert prefixes is not None
        prefix, command = prefixes.group(0), line[prefixes.end():]
        if "@" in prefix:
            raise NotImplementedError(f"@ prefix in {line!r}")
        words = shlex.split(command) if ":" in prefix else expand(command, env)
        user = self.user()
        argv = ["/usr/bin/env", "-i"]
        if self.value("WorkingDirectory"):
            argv += ["-C", self.value("WorkingDirectory").lstrip("-").replace("~", env.get("HOME", "/"))]
        argv += [f"{k}={v}" for k, v in env.items()]
        if user and "+" not in prefix:
            gid = group_id(self.root, self.value("Group")) if self.value("Group") else user.gid
            groups = member_of(self.root, user.name)
            groups += [group_id(self.root, g) for g in " ".join(self.service.get("SupplementaryGroups", [])).split()]
            argv += ["/usr/bin/setpriv", f"--reuid={user.uid}", f"--regid={gid}"]
            argv += [f"--groups={','.join(map(str, sorted(set(groups))))}"] if groups else ["--clear-groups"]
            argv.append("--")
        return argv + words, "-" in prefix

    def umask(self) -> int:
        return int(self.value("UMask", "0022"), 8)

    def run_pre(self, timeout_s: float = 300) -> list[subprocess.CompletedProcess[str]]:
        """ExecStartPre= commands in order; a failing one (without `-`) fails the start, as in systemd."""
        env = self.environment()
        done = []
        for line in self.service.get("ExecStartPre", []):
            argv, may_fail = self.command_argv(line, env)
            result = subprocess.run(self.root.argv(argv, self.flag("PrivateTmp")), capture_output=True,
                                    text=True, timeout=timeout_s, umask=self.umask(), env=WRAPPER_ENV)
            done.append(result)
            if result.returncode != 0 and not may_fail:
                raise AssertionError(f"ExecStartPre={line} failed ({result.returncode}):\n"
                                     f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return done

    def start_main(self, notify: NotifySocket, log: Path) -> MainProcess:
        """ExecStart= in the background, with the notify socket; its output goes to `log`."""
        lines = self.service.get("ExecStart", [])
        assert len(lines) == 1, f"ExecStart= of a Type={self.value('Type')} service: {lines}"
        argv, _ = self.command_argv(lines[0], self.environment(notify))
        with log.open("ab") as out:
            process = subprocess.Popen(self.root.argv(argv, self.flag("PrivateTmp")), stdout=out,
                                       stderr=subprocess.STDOUT, umask=self.umask(), env=WRAPPER_ENV)
        return MainProcess(process, log)


@dataclass
class MainProcess:
    """The running ExecStart command: `process` is the namespace wrapper (unshare), whose child is
    the namespace's PID 1, whose child is the service's main process."""

    process: subprocess.Popen[bytes]
    log: Path

    def main_pid(self, timeout_s: float = 10) -> int:
        """The service's main process as the host sees it (what systemd calls MAINPID)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                # unshare -> the namespace's PID 1 (a shell) -> the service's command
                for init in psutil.Process(self.process.pid).children():
                    commands = init.children()
                    if commands:
                        return int(commands[0].pid)
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited ({self.process.returncode}): {self.tail()}")
            time.sleep(0.05)
        raise AssertionError("the service's main process did not appear")

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self, timeout_s: float = 90) -> int:
        """systemctl stop: SIGTERM to the main process, SIGKILL to all that is left after the timeout
        (the PID namespace ends with its PID 1); returns the main process's exit status."""
        if self.alive():
            try:
                os.kill(self.main_pid(), 15)
            except (ProcessLookupError, AssertionError):
                pass
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)

