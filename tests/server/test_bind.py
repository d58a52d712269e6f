"""The listening socket: accepted connections must not wait on Nagle's algorithm
(asyncio sets TCP_NODELAY only on sockets created with IPPROTO_TCP; without it
every small HTTPS response waited ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import asyncio
import socket

from appliance.server.supervisor import bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = bind("127.0.0.1:0")
    port = listener.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)  # the path uvicorn takes
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
