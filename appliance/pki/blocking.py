"""A synchronous call on the event loop whose blocking parts alone run in a thread.

An issuance is ~1 ms of Python (token, profile, DER, database) around one
device signature that may block (a network HSM can hang). Handing the whole
call to a thread pool makes the loop and the pool threads pass the GIL back
and forth for all of it; :func:`run_on_loop` instead runs ``function`` on the
loop in a greenlet, and each :func:`blocking` call inside it (the device's
signature) suspends that greenlet, runs in the thread pool through
``offload``, and resumes it with the answer (or its exception) while the loop
serves other requests meanwhile; a call that names a ``lane`` (a device that runs
one call at a time, :class:`~appliance.pki.lane.DeviceLane`) goes there instead.
Outside :func:`run_on_loop`, :func:`blocking` simply calls.

Code that runs in such a greenlet must hold no lock across a :func:`blocking`
call (another request on the same loop could wait for it forever): the device
keys call it outside any lock of theirs, and an issuance signs before it
opens its database transaction.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

import greenlet

T = TypeVar("T")
Offload = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _Blocking:
    """What a suspended greenlet asks the loop to run in a thread."""

    function: Callable[..., Any]
    args: tuple[Any, ...]
    lane: Offload | None


class _LoopGreenlet(greenlet.greenlet):
    """A greenlet that :func:`run_on_loop` drives: its :func:`blocking` calls go to a thread."""


def blocking(function: Callable[..., T], *args: Any, lane: Offload | None = None) -> T:
    """``function(*args)``: in a thread when called under :func:`run_on_loop` (through
    ``lane`` if given, else the loop's offload), else here."""
    current = greenlet.getcurrent()
    if isinstance(current, _LoopGreenlet) and current.parent is not None:
        answer: T = current.parent.switch(_Blocking(function, args, lane))
        return answer
    return function(*args)


async def run_on_loop(offload: Offload, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the loop (with a copy of the current context, as a thread
    hop would), each :func:`blocking` call in it awaited through its lane or ``offload(fn, *args)``."""
    task = _LoopGreenlet(contextvars.copy_context().run)
    request = task.switch(function, *args)
    while not task.dead:
        try:
            answer = await (request.lane or offload)(request.function, *request.args)
        except BaseException as exc:  # noqa: BLE001 - raised inside the greenlet, where the call was
            request = task.throw(exc)
        else:
            request = task.switch(answer)
    result: T = request
    return result
