"""The LAN web console, served by the appliance at /ui (see docs/console.md).

`admin_ui.cli` registers it with the `vomeet` command; `admin_ui.mount.mount_console` mounts it
on the app that `serve` builds. Nothing is imported here, so registering the commands stays light.
"""
