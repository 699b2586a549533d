"""The `vomeet` command: one program, every role (serve, worker, bot, admin, ...)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.console import Console
from rich.table import Table

from appliance import __version__, accounts
from appliance.config import ConfigError, Settings, load_settings
from appliance.db.engine import run_in_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from appliance.api.app import AppMount
    from asr.appliance_sink import ApplianceSink

T = TypeVar("T")
console = Console(stderr=True)


@dataclass
class ServeAddons:
    """What optional packages bring to `serve` (registered by `_register_optional_commands`):
    start-up steps run after the admin key, and mounts applied to the app it builds."""

    startup: list[Callable[[Settings], None]] = field(default_factory=list)
    mounts: list[AppMount] = field(default_factory=list)


ADDONS = ServeAddons()


def _settings() -> Settings:
    try:
        settings = load_settings()
        settings.read_admin_key_file()  # validated now, not at the first request
        return settings
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)


def _configure_logging(settings: Settings) -> None:
    from appliance.logging_redact import configure_logging

    configure_logging(settings.log_level)  # every line masks API keys and tokens


def _with_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work(session)` against the appliance database, migrated to the current schema."""
    from appliance.db import migrate

    migrate.upgrade(settings)
    return asyncio.run(run_in_session(settings, work))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vomeet")
def main() -> None:
    """Vomeet: an on-prem meeting-transcription appliance.

    Settings come from VOMEET_* environment variables or the TOML file named by
    VOMEET_CONFIG_FILE; see docs/configuration.md.
    """


@main.command()
def serve() -> None:
    """Run the appliance: API, web console and supervised worker processes."""
    from appliance import supervisor
    from appliance.db import migrate

    settings = _settings()
    _configure_logging(settings)
    migrate.upgrade(settings)
    new_admin_key = _with_db(
        settings, lambda s: accounts.ensure_admin_key(s, settings.read_admin_key_file())
    )
    console.print(f"[bold]Vomeet {__version__}[/bold] — data in {settings.data_dir.resolve()}")
    if new_admin_key:
        console.print(
            "[bold yellow]Admin API key (shown only now, store it safely):[/bold yellow]\n"
            f"  {new_admin_key}\n"
            "  Lost it? `vomeet admin reset-admin-key` prints a new one."
        )
    for step in ADDONS.startup:  # the console's first administrator (admin_ui/cli.py)
        step(settings)
    from appliance.tls.commands import startup_lines

    for line in startup_lines(settings):  # the certificate's fingerprint, made at the first start
        console.print(line, soft_wrap=True)  # one line, so the fingerprint can be copied whole
    console.print(f"API and console: {settings.base_url}  (docs: {settings.base_url}/docs)")
    console.print(f"Web console: {settings.base_url}/ui")
    if settings.host in ("0.0.0.0", "::") and not settings.public_url:
        from appliance.netinfo import lan_ipv4_addresses

        for address in lan_ipv4_addresses():
            console.print(f"  on the LAN: {'https' if settings.tls_enabled else 'http'}://{address}:{settings.port}")
    console.print("Stop with Ctrl+C.")
    specs = [supervisor.ChildSpec("worker", ["worker"])]
    if settings.asr_enabled and _asr_available():
        specs.append(
            supervisor.ChildSpec(
                "asr",
                ["asr", "--host", settings.asr_host, "--port", str(settings.asr_port),
                 "--appliance-url", settings.loopback_url, *_asr_model_args(settings)],
            )
        )
    asyncio.run(supervisor.run(settings, specs, ADDONS.mounts))


def _asr_model_args(settings: Settings) -> list[str]:
    """`--model DIR` for the model VOMEET_ASR_MODEL names (appliance/asr_models.py)."""
    from appliance.asr_models import asr_model_args

    try:
        return asr_model_args(settings)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)


def _asr_available() -> bool:
    return "asr" in main.commands  # registered below when the asr package is installed


@main.command()
def worker() -> None:
    """Run the task queue consumer (started by `serve`; run by hand only to debug)."""
    from huey.consumer_options import ConsumerConfig

    from appliance import tasks

    settings = _settings()
    _configure_logging(settings)
    queue = tasks.build_queue(settings)
    # What a killed worker was sending, and what is owed, goes out now, not at the next sweep.
    tasks.resume_deliveries(settings, queue)
    config = ConsumerConfig(workers=2, worker_type="thread", periodic=True)
    config.validate()
    consumer = queue.huey.create_consumer(**config.values)
    consumer.run()


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to --revision instead of upgrading.")
def migrate(revision: str, down: bool) -> None:
    """Apply (or revert) database migrations."""
    from appliance.db import migrate as migrations

    settings = _settings()
    if down:
        migrations.downgrade(settings, revision)
    else:
        migrations.upgrade(settings, revision)
    console.print(f"database at revision {migrations.current_revision(settings) or 'base (empty)'}")


@main.command()
@click.option("--meeting-id", type=int, required=True, help="Meeting this bot serves.")
def bot(meeting_id: int) -> None:
    """Run one meeting bot (started by the bot runtime with its token in the environment)."""
    from bot.main import run_bot

    sys.exit(run_bot(meeting_id))


@main.group()
def admin() -> None:
    """Manage users, API tokens and the admin key."""


@admin.command("create-user")
@click.argument("email")
@click.option("--name", help="Display name.")
@click.option("--max-bots", type=int, help="Concurrent-bot limit (0 = unlimited).")
def create_user(email: str, name: str | None, max_bots: int | None) -> None:
    """Create a user (or show the existing one with that e-mail)."""
    from pydantic import ValidationError

    from appliance.api.schemas import UserCreate

    settings = _settings()
    try:
        valid = UserCreate(email=email, name=name, max_concurrent_bots=max_bots)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(problems) from exc
    user, created = _with_db(
        settings,
        lambda s: accounts.find_or_create_user(
            s, valid.email, settings.default_max_concurrent_bots,
            name=valid.name, max_concurrent_bots=valid.max_concurrent_bots,
        ),
    )
    console.print(f"{'created' if created else 'exists:'} user {user.id} <{user.email}>")


@admin.command("create-token")
@click.argument("email")
def create_token(email: str) -> None:
    """Issue an API token for a user; it is printed once, on standard output."""
    settings = _settings()

    async def work(session: AsyncSession) -> accounts.IssuedToken | None:
        user = await accounts.user_with_tokens(session, email=email.strip().lower())
        return None if user is None else await accounts.issue_token(session, user.id)

    issued = _with_db(settings, work)
    if issued is None:
        raise click.ClickException(f"no user {email}; create it with `vomeet admin create-user`")
    console.print(f"token {issued.token.id} for {email} (shown only now):")
    click.echo(issued.secret)


@admin.command("list-users")
def list_users() -> None:
    """List users with their token prefixes."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from appliance.db.models import User

    async def work(session: AsyncSession) -> list[User]:
        rows = await session.scalars(select(User).options(selectinload(User.tokens)).order_by(User.id))
        return list(rows.all())

    users = _with_db(_settings(), work)
    table = Table("id", "email", "name", "max bots", "tokens")
    for user in users:
        tokens = ", ".join(f"{t.id}:{t.prefix}…" for t in user.tokens) or "-"
        table.add_row(str(user.id), user.email, user.name or "", str(user.max_concurrent_bots), tokens)
    Console().print(table)


@admin.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke an API token by id."""
    if not _with_db(_settings(), lambda s: accounts.revoke_token(s, token_id)):
        raise click.ClickException(f"no token with id {token_id} (see `vomeet admin list-users`)")
    console.print(f"token {token_id} revoked")


@admin.command("reset-admin-key")
def reset_admin_key() -> None:
    """Replace the generated admin key with a new one, printed once."""
    key = _with_db(_settings(), accounts.rotate_generated_admin_key)
    console.print("new admin API key (shown only now):")
    click.echo(key)


@main.command("settings")
@click.option("--reference", is_flag=True, help="Print the Markdown reference of every setting.")
def show_settings(reference: bool) -> None:
    """Show the effective settings (or, with --reference, document all of them)."""
    from appliance.config import settings_reference_markdown

    if reference:
        click.echo(settings_reference_markdown(), nl=False)
        return
    settings = _settings()
    table = Table("setting", "value")
    for name, value in settings.model_dump().items():
        table.add_row(f"VOMEET_{name.upper()}", str(value))
    Console().print(table)


@main.command()
def doctor() -> None:
    """Check the data directory, database, Chromium, model and ports."""
    from appliance.doctor import run_checks

    results = run_checks(_settings())
    table = Table("check", "status", "detail")
    for result in results:
        table.add_row(result.name, "[green]ok[/green]" if result.ok else "[red]problem[/red]", result.detail)
    Console().print(table)
    sys.exit(0 if all(r.ok for r in results) else 1)


@main.command()
def selftest() -> None:
    """Check this installation can do its jobs: imports, VAD, model, database copy, bot browser."""
    from appliance.selftest import Check, checks, run
    from bot.browser import open_blank

    def report(check: Check) -> None:
        status = "OK" if check.ok else "FAIL"
        click.echo(f"{check.name:<9} {status:<4} {check.seconds:5.1f} s  {check.detail}")

    results = run(_settings(), report, checks(open_blank))
    failed = [r.name for r in results if not r.ok]
    click.echo(f"selftest: {'FAIL (' + ', '.join(failed) + ')' if failed else 'OK'}")
    sys.exit(1 if failed else 0)


@main.group()
def models() -> None:
    """Whisper models: what is installed and which one the ASR server loads."""


@models.command("list")
def models_list() -> None:
    """List the model folders under <data_dir>/models/ and the packaged tiny.en; mark the one in use."""
    from appliance.asr_models import installed_models, model_in_use

    settings = _settings()
    try:
        in_use: Path | None = model_in_use(settings).path
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        in_use = None
    # Plain lines, not a table that narrows to the terminal: the paths are what an operator copies.
    click.echo(f"{'name':<24} {'in use':<6} {'size':>8}  path")
    for model in installed_models(settings):
        name = f"{model.name} (packaged)" if model.packaged else model.name
        mark = "*" if model.path == in_use else ""
        click.echo(f"{name:<24} {mark:<6} {model.size_bytes / 2**20:>4.0f} MiB  {model.path}")
    sys.exit(0 if in_use is not None else 1)



def _progress(label: str) -> Callable[[int, int], None]:
    """Bytes and percent on standard error, one line rewritten in place (at most every 1%)."""
    shown = [-1]

    def report(done: int, total: int) -> None:
        percent = 100 if total == 0 else done * 100 // total
        if percent != shown[0]:
            shown[0] = percent
            end = "\n" if done >= total else "\r"
            click.echo(f"{label}: {done:,} of {total:,} bytes ({percent}%)", err=True, nl=False)
            click.echo(end, err=True, nl=False)

    return report


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recordings", is_flag=True, help="Include the recordings directory (can be large).")
def backup(file: Path, recordings: bool) -> None:
    """Write a consistent online backup (databases, settings) to FILE (tar.gz, mode 0600)."""
    from appliance.backup import BackupError, create

    try:
        manifest = create(_settings(), file, recordings=recordings, progress=_progress("backup"))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"backup written to {file} ({len(manifest['contents'])} files, schema {manifest['schema_revision']})")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True,
              help="Replace the databases already in the data directory (kept in a pre-restore folder).")
def restore(file: Path, replace: bool) -> None:
    """Restore a backup made by `vomeet backup` (the appliance must be stopped), then migrate."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from appliance.backup import BackupError
    from appliance.backup import restore as restore_backup
    from appliance.db import migrate as migrations

    settings = _settings()
    script = ScriptDirectory.from_config(migrations.alembic_config(settings))

    def known(revision: str) -> bool:
        try:
            return script.get_revision(revision) is not None
        except CommandError:
            return False

    try:
        manifest = restore_backup(settings, file, known, replace=replace, progress=_progress("restore"))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    migrations.upgrade(settings)
    console.print(
        f"restored the backup of {manifest['created_at']} (vomeet {manifest['vomeet_version']}) into "
        f"{settings.data_dir}; database at revision {migrations.current_revision(settings)}"
    )
    for path in manifest["settings_restored"]:
        console.print(f"  settings restored: {path}")

def _asr_appliance_sink(appliance_url: str, spool_path: str | None) -> ApplianceSink:
    """The role wiring of the one binary, and the only place where asr meets the appliance: the
    appliance's settings (log level, data directory), its redacted logging and its fault points go
    into the sink that `vomeet asr` sends bot streams' segments through."""
    from appliance.faults import fault_point
    from asr.appliance_sink import ApplianceSink

    settings = Settings()
    # Bot streams carry bot tokens (in their config, and in the sink's requests): every log line of
    # this process masks them, as the appliance's own processes do.
    _configure_logging(settings)
    return ApplianceSink(appliance_url, spool_path=spool_path or settings.data_dir / "asr-spool.db",
                         after_spool=lambda: fault_point("asr.after_spool"))


def _register_core_groups() -> None:
    from appliance.tls.commands import tls

    main.add_command(tls)


_register_core_groups()


def _register_optional_commands() -> None:
    """Roles and add-ons provided by other packages of the distribution, when present. This
    module is the composition root: the core packages import neither of them."""
    try:
        from asr.cli import make_asr_command
    except ImportError:
        pass
    else:
        main.add_command(make_asr_command(_asr_appliance_sink), "asr")
    try:
        from admin_ui.cli import register as register_console
    except ImportError:
        pass
    else:
        register_console(admin, ADDONS)


_register_optional_commands()
