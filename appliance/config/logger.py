"""ca.json's ``logger`` section: the level and format of every line the server writes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from appliance.config.errors import ConfigError

#: step-ca's (logrus) level names -> Python's levels.
LEVELS = {
    "trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
    "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL, "panic": logging.CRITICAL,
}
FORMATS = ("text", "json")


@dataclass(frozen=True)
class LoggerOptions:
    """``logger.level`` (a ``logging`` level) and ``logger.format`` ("text" or "json")."""

    level: int = logging.INFO
    format: str = "text"


def parse_logger(section: dict[str, Any]) -> LoggerOptions:
    level = section.get("level") or "info"
    if not isinstance(level, str) or level.lower() not in LEVELS:
        raise ConfigError(f"ca.json: 'logger.level' must be one of {', '.join(LEVELS)}, not {level!r}")
    log_format = section.get("format") or "text"
    if log_format not in FORMATS:
        raise ConfigError(f"ca.json: 'logger.format' {log_format!r} is not supported yet: use 'text' or 'json'")
    return LoggerOptions(LEVELS[level.lower()], log_format)
