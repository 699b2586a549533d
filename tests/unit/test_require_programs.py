"""tests.conftest.require_programs: a test that needs a program skips where it is missing on a
developer's machine, and fails under CI=true, where `make test` has installed it."""

from __future__ import annotations

import pytest

from tests.conftest import require_programs

MISSING = "vomeet-no-such-program"


def test_a_missing_program_fails_the_test_in_ci_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"needs {MISSING}, not installed"):
        require_programs("sh", MISSING)


def test_a_missing_program_skips_the_test_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"needs {MISSING}, not installed"):
        require_programs("sh", MISSING)


def test_programs_that_are_installed_let_the_test_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require_programs("sh")  # on every machine: nothing raised
