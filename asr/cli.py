"""`vomeet asr`: the streaming Whisper server as a CLI command (added to the main click group)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from asr.appliance_sink import ApplianceSink

# Builds the sink that sends bot streams' segments to the appliance at a URL, spooling them in a
# file (None: the default spool). The composition root (appliance/cli.py) provides it, with the
# appliance's settings, logging and fault points, so that nothing under asr/ imports the appliance.
SinkFactory = Callable[[str, "str | None"], "ApplianceSink"]


def make_asr_command(sink_for: SinkFactory | None = None) -> click.Command:
    """The `asr` command; without `sink_for`, --appliance-url is refused (no appliance to send to)."""

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
    def asr_command(
        host: str, port: int, model: str | None, appliance_url: str | None, spool_path: str | None
    ) -> None:
        """Run the streaming Whisper server."""
        from asr.server import main  # heavy imports only when the command runs

        sink = None
        if appliance_url:
            if sink_for is None:
                raise click.UsageError("--appliance-url needs the appliance: run it as `vomeet asr`.")
            sink = sink_for(appliance_url, spool_path)
        try:
            main(host, port, model, sink=sink, authorize=sink.authorize if sink else None)
        except RuntimeError as error:
            raise click.ClickException(str(error)) from error

    return asr_command
