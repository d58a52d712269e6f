"""``CoalescingTransport``: the writes of one loop turn leave as one, at the end of the
turn; ``close`` sends what is pending first, ``abort`` drops it. Over a real socket pair."""

from __future__ import annotations

import asyncio
import socket

from appliance.server.coalesce import CoalescingTransport


class _Counting(asyncio.Protocol):
    pass


async def _connected() -> tuple[CoalescingTransport, asyncio.Transport, socket.socket]:
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Counting, ours)
    return CoalescingTransport(transport, loop), transport, peer


def _received(peer: socket.socket) -> bytes:
    try:
        return peer.recv(65536)
    except BlockingIOError:
        return b""


def test_writes_of_one_turn_leave_together_at_its_end() -> None:
    async def scenario() -> None:
        coalescing, transport, peer = await _connected()
        sent: list[bytes] = []
        real_write = transport.write
        transport.write = lambda data: (sent.append(bytes(data)), real_write(data))[1]  # type: ignore[method-assign]
        coalescing.write(b"HTTP/1.1 201 Created\r\n\r\n")
        coalescing.write(bytearray(b'{"crt": "..."}'))
        assert coalescing.get_write_buffer_size() == 38
        assert _received(peer) == b""  # nothing before the turn ends
        await asyncio.sleep(0)
        assert sent == [b'HTTP/1.1 201 Created\r\n\r\n{"crt": "..."}']
        await asyncio.sleep(0.01)
        assert _received(peer) == sent[0]
        coalescing.write(b"next")  # the next turn's write is its own
        await asyncio.sleep(0.01)
        assert sent[1:] == [b"next"] and _received(peer) == b"next"
        coalescing.close()
        peer.close()

    asyncio.run(scenario())


def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    async def scenario() -> None:
        coalescing, _, peer = await _connected()
        coalescing.write(b"last words")
        coalescing.close()
        await asyncio.sleep(0.01)
        assert _received(peer) == b"last words"
        assert coalescing.is_closing()  # delegated
        peer.close()
        aborted, _, other = await _connected()
        aborted.write(b"never sent")
        aborted.abort()
        await asyncio.sleep(0.01)
        assert _received(other) == b""
        other.close()

    asyncio.run(scenario())
