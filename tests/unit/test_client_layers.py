"""The desktop client (client/) ships on its own: it imports nothing of the appliance's packages."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_layers import ROOT, _lines_matching


def test_client_imports_no_appliance_package() -> None:
    importing = _lines_matching(r"^\s*(from|import) (appliance|bot|asr|admin_ui)\b", "client")
    assert importing == []


def test_the_client_core_loads_without_the_appliance() -> None:
    # Catches what a grep cannot: an import done through another module, or importlib.
    core = "client.api, client.announce, client.discovery, client.live, client.pairing, client.store, client.trust"
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {core}; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()
    assert "client.api" in loaded
    assert [name for name in loaded if name.split(".")[0] in ("appliance", "bot", "asr", "admin_ui")] == []
