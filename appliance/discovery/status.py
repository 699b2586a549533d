"""What `vomeet doctor` says of mDNS: what the running appliance announces (from the state file
its Discovery keeps), or, when it is not running, what it would announce and on which addresses."""

from __future__ import annotations

import json
from typing import Any

import psutil

from appliance.config import Settings
from appliance.discovery.interfaces import EVERY_ADDRESS, InterfaceRules, announceable, system_addresses
from appliance.discovery.records import APPLIANCE_SERVICE_TYPE, instance_name

STATE_FILE = "mdns.json"


def _running_state(settings: Settings) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((settings.state_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if psutil.pid_exists(int(state.get("pid", 0))) else None  # else left by a killed run


def _where(entries: list[dict[str, str]]) -> str:
    return ", ".join(f"{entry['address']} ({entry['interface']})" for entry in entries)


def announcement_status(settings: Settings) -> tuple[bool, str]:
    """(fine, what to tell the operator)."""
    if not settings.mdns:
        return True, "off (VOMEET_MDNS=false): the appliance is not announced; clients need its address typed in"
    state = _running_state(settings)
    if state is not None:
        services = sorted(state["services"], key=lambda s: s["type"] != APPLIANCE_SERVICE_TYPE)  # ours first
        names = ", ".join(f"{s['name']} port {s['port']}" for s in services)
        pin = next((s["txt"].get("fp") for s in services if "fp" in s["txt"]), None)
        pinned = f"; TXT fp {pin[:16]}…" if pin else "; no TLS, so no pin in TXT"
        return True, f"announcing {names} on {_where(state['addresses'])}{pinned}"
    chosen = announceable(system_addresses(), InterfaceRules.from_settings(settings))
    name = instance_name(settings.mdns_name)
    if chosen:
        entries = [{"address": e.address, "interface": e.interface} for e in chosen]
        return True, f"not running; would announce {name!r} on {_where(entries)} port {settings.port}"
    if settings.host not in EVERY_ADDRESS and not settings.mdns_loopback:
        return True, f"nothing to announce: the API listens on {settings.host} only (VOMEET_HOST)"
    return False, (
        "no LAN interface to announce on (container, tunnel and link-local ones never are); "
        "connect the network or check VOMEET_MDNS_INTERFACES / VOMEET_MDNS_EXCLUDE_INTERFACES"
    )
