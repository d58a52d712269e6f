"""The request id: taken from ``X-Request-Id`` when it is sane, else generated;
kept in the ASGI scope, echoed in the response and written to every log line
about the request, so that a client's report finds the server's traceback."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import Scope

HEADER = "X-Request-Id"
#: What a client may choose: short, printable, nothing that could forge or split a log line.
_SANE = re.compile(r"[A-Za-z0-9._:+/=-]{1,64}")
#: The id of the request being handled (in its task and the threads it runs code in): every
#: log line written meanwhile carries it (``appliance.server.logs``).
current: ContextVar[str] = ContextVar("appliance_request_id", default="")


def assign(scope: Scope) -> str:
    """The id of this request (the client's if sane), stored in the scope."""
    offered = dict(scope.get("headers") or ()).get(HEADER.lower().encode(), b"")
    text = offered.decode("latin-1")
    request_id = text if _SANE.fullmatch(text) else uuid.uuid4().hex
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id


def of(scope: Scope) -> str:
    """The id :func:`assign` gave this request ("" outside the middleware)."""
    return str(scope.get("state", {}).get("request_id", ""))
