"""`vomeet asr`: the streaming Whisper server as a CLI command (added to the main click group)."""

from __future__ import annotations

import click


@click.command("asr")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=9090, show_default=True, type=int, help="WebSocket port (WhisperLive protocol).")
@click.option("--model", default=None, help="Model directory or name; default: the bundled dev tiny.en.")
@click.option(
    "--appliance-url",
    default=None,
    help="Send bot streams' segments to this appliance (`vomeet serve` passes its own address); "
    "without it, segments go only to the streaming client.",
)
@click.option(
    "--spool",
    "spool_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="File where completed segments wait until the appliance has taken them (with "
    "--appliance-url); default: asr-spool.db in the appliance's data directory.",
)
def asr_command(host: str, port: int, model: str | None, appliance_url: str | None, spool_path: str | None) -> None:
    """Run the streaming Whisper server."""
    from asr.server import main  # heavy imports only when the command runs

    sink = None
    if appliance_url:
        # The role wiring of the one binary, and the only place where asr meets appliance: the
        # appliance's settings (log level, data directory), its redacted logging and its fault
        # points go into the sink, which itself imports nothing of the appliance.
        from appliance.config import Settings
        from appliance.faults import fault_point
        from appliance.logging_redact import configure_logging
        from asr.appliance_sink import ApplianceSink

        # Bot streams carry bot tokens (in their config, and in the sink's requests): every log
        # line of this process masks them, as the appliance's own processes do.
        configure_logging(Settings().log_level)

        sink = ApplianceSink(appliance_url, spool_path=spool_path or Settings().data_dir / "asr-spool.db",
                             after_spool=lambda: fault_point("asr.after_spool"))
    try:
        main(host, port, model, sink=sink, authorize=sink.authorize if sink else None)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error
