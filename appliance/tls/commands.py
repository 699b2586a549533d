"""`vomeet tls ...`: show the served certificate, rotate it, install a company one."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from rich.console import Console

from appliance.config import ConfigError, Settings, load_settings
from appliance.tls.fingerprint import grouped
from appliance.tls.store import CertificateInfo, TlsError, TlsStore, check_pair

console = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        sys.exit(2)
    if not settings.tls_enabled:
        console.print("[yellow]TLS is off (VOMEET_TLS=off, or auto with a loopback host): nothing is "
                      "served over HTTPS; the certificate below is kept for when it is on.[/yellow]")
    return settings


def describe_lines(label: str, info: CertificateInfo) -> list[str]:
    lines = [
        f"{label} certificate: {info.subject}",
        f"  fingerprint (SHA-256): {grouped(info.fingerprint)}",
        f"  valid until {info.not_after:%Y-%m-%d %H:%M} UTC; names: {', '.join(info.names) or '(none)'}",
    ]
    if info.due is not None:
        lines.append(f"  becomes current by itself at {info.due:%Y-%m-%d %H:%M} UTC")
    return lines


def startup_lines(settings: Settings) -> list[str]:
    """What `vomeet serve` prints about TLS: the fingerprint people compare on first use."""
    if not settings.tls_enabled:
        return []
    store = TlsStore(settings)
    try:
        info, made = store.ensure()
        if store.operator_files:  # theirs may not fit: refused here, not by a traceback in the server
            cert_file, key_file = store.serving_paths()
            check_pair(cert_file.read_bytes(), key_file.read_bytes())
    except (TlsError, OSError) as exc:
        console.print(f"[red]TLS: {exc}. See docs/tls.md.[/red]")
        sys.exit(2)
    made_note = " (made now: a new self-signed certificate)" if made else ""
    return [
        f"HTTPS on port {settings.port}{made_note}; plain HTTP on 127.0.0.1:{settings.loopback_port} only.",
        f"  Certificate fingerprint (SHA-256): {grouped(info.fingerprint)}",
        "  Check it against what a browser or the desktop client shows before trusting it.",
    ]


def _fail(exc: TlsError) -> None:
    console.print(f"[red]{exc}[/red]")
    sys.exit(1)


@click.group("tls")
def tls() -> None:
    """The appliance's HTTPS certificate (docs/tls.md)."""


@tls.command("show")
def show() -> None:
    """Print the served certificate, its fingerprint, and a staged next one."""
    store = TlsStore(_settings())
    try:
        current, _ = store.ensure()
        staged = store.staged()
    except TlsError as exc:
        _fail(exc)
        return
    click.echo("\n".join(describe_lines("current", current)))
    if staged is not None:
        click.echo("\n".join(describe_lines("next", staged)))
    click.echo(current.pem, nl=False)


@tls.command("rotate")
@click.option("--activate", is_flag=True, help="Switch to the staged certificate now (staging one first if none is).")
@click.option("--due-in-days", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="When a newly staged certificate becomes current by itself.")
def rotate(activate: bool, due_in_days: float) -> None:
    """Stage a new self-signed certificate; paired devices learn it from GET /tls before the switch."""
    store = TlsStore(_settings())
    try:
        staged = store.staged()
        if staged is None:
            due = dt.datetime.now(dt.UTC) + dt.timedelta(days=due_in_days)
            staged = store.stage(due=None if activate else due)
            click.echo("\n".join(describe_lines("staged next", staged)))
        if activate:
            current = store.activate()
            click.echo("\n".join(describe_lines("now current", current)))
            click.echo("The running server serves it within seconds; devices that learnt it keep working.")
    except TlsError as exc:
        _fail(exc)


@tls.command("install")
@click.option("--cert", "cert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM certificate (leaf first, then intermediates).")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Its unencrypted PEM private key.")
@click.option("--next", "as_next", is_flag=True,
              help="Stage it as the next certificate (paired devices learn it first); "
              "`vomeet tls rotate --activate` switches.")
def install(cert_file: Path, key_file: Path, as_next: bool) -> None:
    """Serve a certificate from the company's CA instead of the box's own."""
    store = TlsStore(_settings())
    try:
        info = store.install(cert_file.read_bytes(), key_file.read_bytes(), as_next=as_next)
    except TlsError as exc:
        _fail(exc)
        return
    click.echo("\n".join(describe_lines("staged next" if as_next else "now current", info)))
    if not as_next:
        click.echo("Paired devices pinned the previous certificate: confirm the new fingerprint on them "
                   "(or install with --next next time, so they learn it first).")
