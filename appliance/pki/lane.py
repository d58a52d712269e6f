"""One thread for a device that runs one call at a time.

A PKCS#11 module serialises every call under its lock, so the thread pool's
parallelism buys nothing there, while each call handed to the pool costs a pool
thread's wake-up, anyio's bookkeeping and a wake-up of the loop. A
:class:`DeviceLane` is one thread per device: event loops queue calls on it, the
thread runs every queued call back to back (each in its caller's context) and
hands the answers to each caller's loop in one callback per loop and batch.
The thread runs under ``SCHED_BATCH`` (Linux): its wake-ups do not preempt the
loop's thread, it runs when the loop waits or on another core. On SoftHSM2 the lane
cut the context switches per certificate from ~8.6-10 to ~2.7 (``benchmarks/README.md``,
"SoftHSM2 path").

A call that hangs holds the lane as it would hold the module lock that every
pool thread waits for; the calls behind it wait, none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


@dataclass(frozen=True)
class _Call:
    context: contextvars.Context
    function: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class DeviceLane:
    """``await lane(function, *args)``: ``function(*args)`` on the lane's one thread
    (started on first use), in the caller's context; its answer or exception."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def __call__(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            self._start()
        self._queue.put(_Call(contextvars.copy_context(), function, args, loop, future))
        return await future

    def _start(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=f"device lane {self.name}", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        _batch_scheduling()
        while True:
            calls = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    calls.append(self._queue.get_nowait())
            answers: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
            for call in calls:
                answers.setdefault(call.loop, []).append(_run(call))
            for loop, outcomes in answers.items():
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for these
                    loop.call_soon_threadsafe(_settle, outcomes)


def _batch_scheduling() -> None:
    """``SCHED_BATCH`` for the calling thread, where the system has it."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _run(call: _Call) -> _Outcome:
    try:
        return call.future, call.context.run(call.function, *call.args), None
    except StopIteration as exc:  # a future refuses it (it would end the awaiting coroutine)
        error = RuntimeError(f"{call.function!r} raised StopIteration")
        error.__cause__ = exc
        return call.future, None, error
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised where it awaits
        return call.future, None, exc


def _settle(outcomes: list[_Outcome]) -> None:
    """On the caller's loop: each future gets its answer (unless the caller has gone)."""
    for future, answer, error in outcomes:
        if future.done():
            continue
        if error is None:
            future.set_result(answer)
        else:
            future.set_exception(error)
