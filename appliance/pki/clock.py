"""The wall clock, in one place: callers take a ``Clock`` so tests can inject time."""

from __future__ import annotations

import datetime
from typing import Callable

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.datetime.now(datetime.timezone.utc)
