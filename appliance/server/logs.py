"""Where the server's lines go: stderr, at ca.json's ``logger.level``, in its
``logger.format``. Every logger (ours, uvicorn's, the libraries') writes through
the root handler configured here; access lines come already formatted by
``appliance.api.middleware`` in the same format."""

from __future__ import annotations

import datetime
import json
import logging

from appliance.config.logger import LoggerOptions

ACCESS_LOGGER = "appliance.access"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


def configure_logging(options: LoggerOptions | None = None) -> None:
    """Send every line to stderr at ``options.level`` in ``options.format`` (default:
    info, text). httpx (ACME http-01 validation) logs every request at INFO, with
    the challenge token in its URL: only its warnings are kept."""
    options = options or LoggerOptions()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if options.format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=options.level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, options.level))
    access = logging.StreamHandler()
    access.setFormatter(logging.Formatter("%(message)s"))
    access_logger = logging.getLogger(ACCESS_LOGGER)
    access_logger.handlers[:] = [access]
    access_logger.propagate = False
