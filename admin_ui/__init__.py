"""The LAN web console, served by the appliance at /ui (see docs/console.md)."""

from admin_ui.mount import mount_console

__all__ = ["mount_console"]
