"""One write per response: a transport wrapper that sends what was written during one
turn of the event loop as a single write.

uvicorn writes a response's head when the app sends ``http.response.start`` and its
body with ``http.response.body``: two TLS records and two ``send`` calls, each a trip
through the kernel's loopback or network path that the profile showed costing more
than the issuance's signature. The app sends both in one turn of the loop (nothing
waits between them), so joining the writes of a turn gives one record and one send,
as Go's buffered writer does for step-ca. Data is never held past the end of the
turn: the join is flushed by a callback the loop runs before it waits for I/O again,
and before ``close`` or ``write_eof``; ``abort`` drops it, as it drops the
transport's own buffer.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """Delegates to ``transport``; ``write`` joins the writes of one loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Send what was written in this turn (nothing if the connection is closing)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
