"""The frozen bundle (`make bundle`), unpacked from its tarball as the installer does: one executable
that plays every role of the source install, passes its own selftest, starts its children as
itself, and starts external programs without its private library path."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import psutil
import pytest

from appliance.cli import main as source_cli
from tests.conftest import free_port, wait_until

pytestmark = pytest.mark.slow

SELFTEST_CHECKS = ("imports", "vad", "model", "database", "browser")
HEADLESS_SHELL = Path("/usr/lib/chromium/chromium-headless-shell")
CALLER_LIBRARY_PATH = "/opt/caller/lib"  # what the operator's environment had before the bundle ran


@pytest.fixture(scope="module")
def unpacked(frozen_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball's one folder, vomeet-<version>/, extracted (symlinks and modes as packed)."""
    target = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["tar", "--use-compress-program=zstd", "-xf", str(frozen_bundle), "-C", str(target)],
                   check=True, timeout=300)
    (folder,) = target.iterdir()
    return folder


@pytest.fixture(scope="module")
def vomeet(unpacked: Path) -> Path:
    return unpacked / "vomeet"


def frozen_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOMEET_", "LD_LIBRARY_PATH"))}
    env.update(VOMEET_DATA_DIR=str(data_dir), VOMEET_HOST="127.0.0.1")
    env.update({f"VOMEET_{k.upper()}": v for k, v in settings.items()})
    return env


def run(vomeet: Path, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(vomeet), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd="/")  # not the checkout: nothing may come from the source tree


def listed_commands(help_text: str) -> set[str]:
    """Command names under click's "Commands:" heading of a --help page."""
    lines = help_text.split("Commands:", 1)[1].splitlines()
    return {line.split()[0] for line in lines if line.startswith("  ") and line.split()}


def test_every_role_of_the_source_program_is_in_the_frozen_one(vomeet: Path, tmp_path: Path) -> None:
    env = frozen_env(tmp_path / "data")
    shown = run(vomeet, "--help", env=env)
    assert shown.returncode == 0, shown.stderr
    assert listed_commands(shown.stdout) == set(source_cli.commands)
    for name, command in source_cli.commands.items():
        if isinstance(command, click.Group):
            group_help = run(vomeet, name, "--help", env=env)
            assert listed_commands(group_help.stdout) == set(command.commands), name
    version = run(vomeet, "--version", env=env).stdout.split()[-1]
    assert (vomeet.parent / "VERSION").read_text().strip() == version


def recording(program: Path, wrapper: Path) -> Path:
    """A stand-in for `program` that writes down the environment it was started with, then
    becomes the real program; returns the file it writes."""
    recorded = wrapper.with_suffix(".env")
    wrapper.write_text(f'#!/bin/sh\nenv > {recorded}\nexec {program} "$@"\n')
    wrapper.chmod(0o755)
    return recorded


def environment(recorded: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in recorded.read_text().splitlines() if "=" in line)


def test_the_frozen_selftest_passes_and_external_programs_get_the_callers_library_path(
    vomeet: Path, unpacked: Path, tmp_path: Path
) -> None:
    chromium_env = recording(HEADLESS_SHELL, tmp_path / "chromium")
    # Playwright starts its node driver from PLAYWRIGHT_NODEJS_PATH when set: the bundle's own node.
    node_env = recording(unpacked / "_internal" / "playwright" / "driver" / "node", tmp_path / "node")
    env = frozen_env(tmp_path / "data", chromium_path=str(tmp_path / "chromium"))
    made = run(vomeet, "admin", "create-user", "first@example.com", env=env)  # a database in use
    assert made.returncode == 0, made.stderr
    database = tmp_path / "data" / "vomeet.db"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    env.update(LD_LIBRARY_PATH=CALLER_LIBRARY_PATH, PLAYWRIGHT_NODEJS_PATH=str(tmp_path / "node"))
    result = run(vomeet, "selftest", env=env, timeout=300)
    report = result.stdout
    assert result.returncode == 0, f"{report}\n{result.stderr[-3000:]}"
    for check in SELFTEST_CHECKS:
        assert any(line.split()[:2] == [check, "OK"] for line in report.splitlines()), report
    assert report.strip().endswith("selftest: OK")
    (database_line,) = [line for line in report.splitlines() if line.startswith("database")]
    assert f"copy of {database}" in database_line and "1 user(s)" in database_line, database_line
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before  # the original was only read
    # The frozen vomeet runs with its _internal/ first on the library path (the bootloader puts it
    # there); the programs it starts must see the caller's value instead.
    for program, recorded in (("node", node_env), ("chromium", chromium_env)):
        seen = environment(recorded)
        assert seen.get("LD_LIBRARY_PATH") == CALLER_LIBRARY_PATH, (program, seen.get("LD_LIBRARY_PATH"))
        assert "LD_LIBRARY_PATH_ORIG" not in seen, program


def test_the_packaged_model_is_listed_in_use(vomeet: Path, unpacked: Path, tmp_path: Path) -> None:
    listed = run(vomeet, "models", "list", env=frozen_env(tmp_path / "data"))
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("tiny.en (packaged)")]
    assert row.split()[2] == "*"
    assert Path(row.split()[-1]).is_relative_to(unpacked)


@pytest.fixture
def frozen_serve(vomeet: Path, tmp_path: Path) -> Iterator[tuple[psutil.Process, str]]:
    port = free_port()
    env = frozen_env(tmp_path / "data", port=str(port), asr_enabled="true", asr_port=str(free_port()))
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([str(vomeet), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/")
    serve = psutil.Process(process.pid)
    try:
        yield serve, f"http://127.0.0.1:{port}"
    finally:
        children = serve.children(recursive=True)
        process.send_signal(signal.SIGTERM)  # as systemd stops it: the supervisor stops its children
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        for child in children:  # none should be left; a failed stop must not leave any either
            with contextlib.suppress(psutil.Error):
                child.kill()


def _all_ready(base_url: str, serve: psutil.Process) -> bool:
    if not serve.is_running() or serve.status() == psutil.STATUS_ZOMBIE:
        raise AssertionError("the frozen vomeet serve exited")
    try:
        answer = httpx.get(f"{base_url}/readyz", timeout=2)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and all(check["ok"] for check in answer.json()["checks"].values())


def test_frozen_serve_starts_its_children_as_the_frozen_executable(
    vomeet: Path, frozen_serve: tuple[psutil.Process, str]
) -> None:
    serve, base_url = frozen_serve
    wait_until(lambda: _all_ready(base_url, serve), 180, what="the frozen appliance's /readyz with every check ok")
    children = {child.cmdline()[1]: child for child in serve.children() if len(child.cmdline()) > 1}
    assert {"worker", "asr"} <= set(children), {role: c.cmdline() for role, c in children.items()}
    executable = os.path.realpath(vomeet)
    assert os.readlink(f"/proc/{serve.pid}/exe") == executable
    for role in ("worker", "asr"):
        child = children[role]
        assert os.readlink(f"/proc/{child.pid}/exe") == executable, role
        assert child.cmdline()[0] == str(vomeet), child.cmdline()  # not `python -m appliance`
        # A frozen role runs with the bundle's libraries first (what external_env undoes for others).
        assert child.environ().get("LD_LIBRARY_PATH", "").startswith(str(vomeet.parent / "_internal")), role
