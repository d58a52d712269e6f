"""A clock for tests: time moves only when the code under test sleeps or the test
advances it, so no test waits on the wall clock."""

from __future__ import annotations

import datetime
import random

from appliance.pki.clock import utc_now


class FakeClock:
    """``now()`` (aware UTC) and ``sleep(seconds)``, which records the wait and moves
    the clock instead of waiting. Starts at ``start``
    (default: the real time when it is made, so certificates a real CA issued a
    moment ago look fresh)."""

    def __init__(self, start: datetime.datetime | None = None) -> None:
        self.start = start or utc_now()
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime.datetime:
        return self.start + datetime.timedelta(seconds=self.elapsed)

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))


class FixedRandom(random.Random):
    """A "random" source that always draws ``value`` (jitter made predictable)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value
