"""The plain-HTTP loopback listener that serves the box's own processes when TLS is on."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from appliance.config import load_settings
from appliance.supervisor import _loopback_companion
from tests.conftest import free_port


def test_its_connections_send_without_waiting_for_acks(tmp_path: Path) -> None:
    # asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets made for IPPROTO_TCP; on
    # any other, every kept-alive request waited ~40 ms for a delayed ACK (benchmarks/tls_cost.py).
    settings = load_settings(data_dir=tmp_path, host="127.0.0.1", tls="on", loopback_port=free_port())
    _, listener = _loopback_companion(object(), settings)

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Accepting(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Accepting, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", settings.loopback_port)
            value = await asyncio.wait_for(seen, 10)
            writer.close()
            return value

    assert asyncio.run(accepted_nodelay()) == 1
