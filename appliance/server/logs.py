"""The one logging pipeline: every line the server writes (ours, uvicorn's, the
libraries', the access log) goes through the root handler configured here, to
stderr, at ca.json's ``logger.level``, in its ``logger.format``: ``text`` (time,
level, logger, message, then ``key=value`` pairs) or ``json`` (one object per line).
A line written while a request is handled carries its ``request_id``; the access
log's values (``record.fields``) are members of the JSON object."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from appliance.api import request_id
from appliance.api.middleware import format_line
from appliance.config.logger import LoggerOptions

ACCESS_LOGGER = "appliance.access"


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being handled ("" outside one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.current.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any] | None:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (or the access log's
    fields), request id, and the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = _fields(record)
        if fields is not None:
            line.update(fields)
        else:
            line["msg"] = record.getMessage()
            if getattr(record, "request_id", ""):
                line["request_id"] = record.request_id  # type: ignore[attr-defined]
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message`` and ``request_id=...`` when a request is handled."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", "")
        if rid and _fields(record) is None:
            first, newline, rest = text.partition("\n")
            text = f"{first} {format_line({'request_id': rid})}{newline}{rest}"
        return text


def configure_logging(options: LoggerOptions | None = None) -> None:
    """Send every line to stderr at ``options.level`` in ``options.format`` (default:
    info, text). httpx (ACME http-01 validation) logs every request at INFO, with
    the challenge token in its URL: only its warnings are kept."""
    options = options or LoggerOptions()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if options.format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=options.level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, options.level))
    for name in (ACCESS_LOGGER, "uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own dictConfig (any in-process uvicorn.Config) gives these handlers and levels
        # of their own and stops propagation: every line goes through the one handler above instead
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.disabled = False
        logger.setLevel(logging.NOTSET)
