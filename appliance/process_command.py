"""How this program starts other processes, from source and from the frozen bundle alike.

Two kinds, one helper each:
- another role of this same program (`self_command`): the bundle's own executable when frozen,
  this interpreter with `-m appliance` from source;
- an external program (Chromium, Playwright's node driver, espeak-ng...): started with
  `external_env()`, which undoes what PyInstaller's bootloader did to the library search path,
  so that a system program loads the system's libraries, not the bundle's copies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# The bootloader of a one-dir bundle prepends its `_internal` folder to LD_LIBRARY_PATH and
# keeps the caller's value (if there was one) in LD_LIBRARY_PATH_ORIG.
LIBRARY_PATH = "LD_LIBRARY_PATH"
LIBRARY_PATH_ORIG = "LD_LIBRARY_PATH_ORIG"


def frozen() -> bool:
    """Whether this process runs from the PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def self_command() -> list[str]:
    """argv prefix that runs `vomeet` with the current interpreter or frozen bundle."""
    if frozen():  # PyInstaller bundle: the executable is vomeet itself
        return [sys.executable]
    return [sys.executable, "-m", "appliance"]


def external_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an external program: `base` (default: this process's) with the
    bundle's LD_LIBRARY_PATH change undone when frozen; unchanged from source. Undoing twice
    changes nothing (an environment already made external keeps the caller's value)."""
    env = dict(os.environ if base is None else base)
    if not frozen():
        return env
    original = env.pop(LIBRARY_PATH_ORIG, None)
    if original is not None:
        env[LIBRARY_PATH] = original
        return env
    # No value before the bundle: the bootloader set the path to the bundle's folder alone.
    bundle = getattr(sys, "_MEIPASS", None)
    kept = [entry for entry in env.get(LIBRARY_PATH, "").split(":") if entry and entry != bundle]
    if kept:
        env[LIBRARY_PATH] = ":".join(kept)
    else:
        env.pop(LIBRARY_PATH, None)
    return env


def use_external_env() -> None:
    """Make this process's own environment the external one, for a process whose children are all
    external programs started by code we do not call with an env (Playwright copies os.environ
    into its node driver, and Chromium inherits the driver's). The process itself is unaffected:
    the dynamic loader read the library path when the process started."""
    env = external_env()
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)
