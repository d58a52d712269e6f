"""Challenge validation off the request path: a thread pool, bounded retries.

A challenge the client answered moves pending -> processing (compare-and-set,
so only one process validates it; ``appliance.acme.scheduling``); the pool tries it up to ``attempts`` times,
``retry_delay`` apart, each attempt bounded by ``timeout``; then the challenge
and its authorization become valid, or invalid with the last problem.
``submit`` returns a future that completes once the first attempt is over (and
its outcome recorded, if it decided one), so that the request that asked for the
validation can answer with that outcome (as step-ca does) when it comes quickly.
"""

from __future__ import annotations

import datetime
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from appliance import metrics
from appliance.acme.models import Authorization, Challenge, Status
from appliance.acme.problems import AcmeError, Problem
from appliance.acme.store import AcmeStore

log = logging.getLogger(__name__)

PROCESSING = frozenset({Status.PROCESSING})
PENDING = frozenset({Status.PENDING})


@dataclass(frozen=True)
class ValidationSettings:
    attempts: int = 3
    retry_delay: float = 2.0
    timeout: float = 5.0
    workers: int = 16

    @property
    def stale_after(self) -> datetime.timedelta:
        """Longer than one validation can take (each attempt: a DNS lookup and a connection,
        each bounded by ``timeout``, then the retry delay): a challenge still processing
        after this was left by a process that died, and is validated again."""
        return datetime.timedelta(seconds=self.attempts * (2 * self.timeout + self.retry_delay))


class Validator:
    """Runs challenge checks in a thread pool and records their outcome."""

    def __init__(self, store: AcmeStore, settings: ValidationSettings,
                 now: Callable[[], datetime.datetime], sleep: Callable[[float], None] | None = None) -> None:
        """``sleep`` waits between attempts (a test's fake clock); by default the wait
        ends early when ``close`` is called."""
        self._store = store
        self._settings = settings
        self._now = now
        self._sleep = sleep
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="acme-validate")

    def submit(self, authorization: Authorization, challenge: Challenge, check: Callable[[], None]) -> Future[None]:
        """Validate a challenge already moved to processing, ``check`` being one attempt
        (raises :class:`AcmeError` on failure); the future completes when the first
        attempt is over (never if ``close`` drops the validation: wait with a timeout)."""
        first_attempt: Future[None] = Future()
        self._pool.submit(self._run, authorization, challenge, check, first_attempt)
        return first_attempt

    def _attempt(self, challenge: Challenge, check: Callable[[], None]) -> AcmeError | None:
        try:
            check()
        except AcmeError as exc:
            return exc
        except Exception as exc:  # a bug or an unexpected library error: never leave it processing
            log.exception("validating challenge %s", challenge.id)
            return AcmeError(Problem.SERVER_INTERNAL, f"validation failed: {type(exc).__name__}")
        return None

    def _run(self, authorization: Authorization, challenge: Challenge, check: Callable[[], None],
             first_attempt: Future[None]) -> None:
        try:
            self._validate(authorization, challenge, check, first_attempt)
        finally:
            _complete(first_attempt)

    def _validate(self, authorization: Authorization, challenge: Challenge, check: Callable[[], None],
                  first_attempt: Future[None]) -> None:
        error: AcmeError | None = None
        for attempt in range(self._settings.attempts):
            if attempt:
                _complete(first_attempt)  # it failed: the outcome now waits for the retries
                if self._pause(self._settings.retry_delay):
                    return
            error = self._attempt(challenge, check)
            if error is None:
                break
            message = error.message.replace(challenge.token, "<token>") if challenge.token else error.message
            log.info("challenge %s attempt %d: %s", challenge.id, attempt + 1, message)
        if error is None:
            self._store.set_challenge_status(challenge.id, Status.VALID, PROCESSING, validated_at=self._now())
            self._store.set_authorization_status(authorization.id, Status.VALID, PENDING)
        else:
            self._store.set_challenge_status(challenge.id, Status.INVALID, PROCESSING, error=error.to_json())
            self._store.set_authorization_status(authorization.id, Status.INVALID, PENDING)
        metrics.acme_validations.labels(challenge.type.value, "valid" if error is None else "invalid").inc()

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` before a retry; whether to stop instead."""
        if self._sleep is None:
            return self._stopping.wait(seconds)
        self._sleep(seconds)
        return self._stopping.is_set()

    def close(self) -> None:
        """Stop retrying and let running attempts end (bounded by their timeout)."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _complete(future: Future[None]) -> None:
    """Complete ``future`` if it is not yet (only the validating thread completes it; nobody cancels it)."""
    if not future.done():
        future.set_result(None)
