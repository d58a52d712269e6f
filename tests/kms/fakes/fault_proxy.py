"""An HTTP/1.1 reverse proxy that injects faults in front of a real local service (moto_server).

Requests pass through unchanged to ``upstream`` unless a fault is queued:
then the proxy answers it itself (``status`` and JSON ``body``, as AWS's JSON
protocol does: ``{"__type": "ThrottlingException", "message": ...}``) without
forwarding. :attr:`FaultProxy.credentials` records the access key id of every
request (from its SigV4 ``Authorization`` header), so a test can see the
client re-read its credentials.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")


class FaultProxy:
    """Serve on a free loopback port; ``url`` is what the client uses as its endpoint."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: list[tuple[int, dict[str, Any]]] = []
        self.credentials: list[str] = []
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def fail(self, status: int, error_type: str, count: int = 1) -> None:
        """Answer the next ``count`` requests with an AWS JSON error."""
        with self.lock:
            self.faults.extend([(status, {"__type": error_type, "message": "injected fault"})] * count)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            found = _ACCESS_KEY.search(self.headers.get("Authorization", ""))
            with proxy.lock:
                proxy.credentials.append(found.group(1) if found else "")
                fault = proxy.faults.pop(0) if proxy.faults else None
            if fault is not None:
                status, payload = fault[0], json.dumps(fault[1]).encode()
                content_type = "application/x-amz-json-1.1"
            else:
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                status, payload = answer.status, answer.read()
                content_type = answer.getheader("Content-Type", "application/x-amz-json-1.1")
                upstream.close()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
