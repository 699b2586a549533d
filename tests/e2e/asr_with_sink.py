"""`python -m tests.e2e.asr_with_sink PORT API_URL`: the real ASR server (asr.server.serve)
with the appliance's segment sink (ApplianceSink), as `vomeet asr --appliance-url` runs it.

The transcript tests run it in a process of their own, not as `vomeet serve`'s supervised
child, so that a test can stop and restart it at a known moment; the appliance's bots are
pointed at it through VOMEET_ASR_PORT."""

from __future__ import annotations

import asyncio
import logging
import sys

from asr.appliance_sink import ApplianceSink
from asr.server import serve


async def main(port: int, api_url: str) -> None:
    sink = ApplianceSink(api_url)
    async with serve("127.0.0.1", port, None, sink=sink, authorize=sink.authorize):
        logging.getLogger("asr").info("ASR server with the appliance sink on %d", port)
        await asyncio.Future()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
