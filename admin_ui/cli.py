"""The console's part of the `vomeet` command, registered by `appliance.cli` the way `asr` is:
`vomeet admin set-password`, the first administrator created at `serve`, and the console's
mount on the app that `serve` builds. Light to import: the console itself loads on use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from appliance.cli import ServeAddons
    from appliance.config import Settings


@click.command("set-password")
@click.option("--username", default="admin", show_default=True, help="Console administrator name.")
@click.password_option(help="The new password (asked twice when not given).")
def set_password(username: str, password: str) -> None:
    """Set a web console administrator's password (creating the account if needed)."""
    from admin_ui.admins import set_password as store_password
    from admin_ui.passwords import WeakPassword
    from appliance.cli import _settings, _with_db, console

    try:
        created = _with_db(_settings(), lambda s: store_password(s, username, password))
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"{'created' if created else 'updated'} console administrator {username}")


def ensure_first_admin_at_serve(settings: Settings) -> None:
    """Create the first console administrator on the first start, printing its password once."""
    from admin_ui.admins import FIRST_ADMIN, ensure_first_admin
    from appliance.cli import _with_db, console

    new_password = _with_db(settings, ensure_first_admin)
    if new_password:
        console.print(
            f"[bold yellow]Web console administrator (shown only now):[/bold yellow]\n"
            f"  user {FIRST_ADMIN}, password {new_password}\n"
            "  Change it with `vomeet admin set-password`."
        )


def mount(app: Starlette) -> None:
    """The web console at /ui (admin_ui/mount.py), on the app `serve` builds."""
    from admin_ui.mount import mount_console

    mount_console(app)


def register(admin: click.Group, addons: ServeAddons) -> None:
    admin.add_command(set_password, "set-password")
    addons.startup.append(ensure_first_admin_at_serve)
    addons.mounts.append(mount)
