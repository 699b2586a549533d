"""How the program starts processes: other roles as itself, external programs with the frozen
bundle's library path undone (appliance/process_command.py). The frozen case is what PyInstaller's
bootloader sets up: sys.frozen, sys.executable the bundle's `vomeet`, LD_LIBRARY_PATH with the
bundle's `_internal/` first and the caller's value in LD_LIBRARY_PATH_ORIG."""

from __future__ import annotations

import os
import sys

import pytest

from appliance import process_command

BUNDLE_LIBS = "/opt/vomeet/0.1.0/_internal"


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> str:
    executable = "/opt/vomeet/0.1.0/vomeet"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", executable)
    monkeypatch.setattr(sys, "_MEIPASS", BUNDLE_LIBS, raising=False)
    return executable


def test_from_source_a_role_runs_with_this_interpreter_and_the_environment_is_kept() -> None:
    assert process_command.self_command() == [sys.executable, "-m", "appliance"]
    env = {"LD_LIBRARY_PATH": "/usr/local/lib", "LD_LIBRARY_PATH_ORIG": "/elsewhere", "HOME": "/root"}
    assert process_command.external_env(env) == env


def test_frozen_a_role_runs_as_the_bundles_executable(frozen: str) -> None:
    assert process_command.self_command() == [frozen]


def test_frozen_an_external_program_gets_the_callers_library_path_back(frozen: str) -> None:
    env = {"LD_LIBRARY_PATH": f"{BUNDLE_LIBS}:/usr/local/lib", "LD_LIBRARY_PATH_ORIG": "/usr/local/lib",
           "PATH": "/usr/bin"}
    assert process_command.external_env(env) == {"LD_LIBRARY_PATH": "/usr/local/lib", "PATH": "/usr/bin"}


def test_frozen_with_no_library_path_before_the_bundle_none_is_given(frozen: str) -> None:
    env = {"LD_LIBRARY_PATH": BUNDLE_LIBS, "PATH": "/usr/bin"}
    assert process_command.external_env(env) == {"PATH": "/usr/bin"}


def test_use_external_env_changes_this_processes_environment(frozen: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{BUNDLE_LIBS}:/usr/local/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    process_command.use_external_env()
    assert os.environ["LD_LIBRARY_PATH"] == "/usr/local/lib"
    assert "LD_LIBRARY_PATH_ORIG" not in os.environ


def test_frozen_an_environment_made_external_keeps_the_callers_library_path(
    frozen: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Chromium's launch sees in a bot: os.environ already made external, then external_env().
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{BUNDLE_LIBS}:/usr/local/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    process_command.use_external_env()
    assert process_command.external_env()["LD_LIBRARY_PATH"] == "/usr/local/lib"
