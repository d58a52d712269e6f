"""run_on_loop: the call runs on the loop, each ``blocking`` part in the offload's thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from appliance.pki.blocking import blocking, run_on_loop
from appliance.pki.lane import DeviceLane

_request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="")


def _offload_to(pool: ThreadPoolExecutor) -> Callable[..., Any]:
    async def offload(function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

    return offload


def _thread() -> str:
    return threading.current_thread().name


def test_only_the_blocking_part_leaves_the_loop() -> None:
    def issuance(label: str) -> tuple[str, str, str, str]:
        before = _thread()
        device = blocking(lambda suffix: f"{_thread()}{suffix}", "!")
        return before, device, _thread(), f"{label} {_request.get()}"

    async def main() -> tuple[str, str, str, str]:
        _request.set("r1")
        with ThreadPoolExecutor(1, thread_name_prefix="device") as pool:
            return await run_on_loop(_offload_to(pool), issuance, "sign")

    before, device, after, noted = asyncio.run(main())
    assert before == after == threading.current_thread().name
    assert device.startswith("device") and device.endswith("!")
    assert noted == "sign r1"  # the caller's context is seen inside


def test_an_error_of_the_blocking_call_is_raised_where_it_was_made() -> None:
    def failing() -> None:
        raise ValueError("device gone")

    def issuance() -> str:
        try:
            blocking(failing)
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    async def main() -> str:
        with ThreadPoolExecutor(1) as pool:
            return await run_on_loop(_offload_to(pool), issuance)

    assert asyncio.run(main()) == "caught device gone"


def test_an_error_of_the_call_reaches_the_caller() -> None:
    def issuance() -> None:
        blocking(lambda: None)
        raise LookupError("refused")

    async def main() -> None:
        with ThreadPoolExecutor(1) as pool:
            await run_on_loop(_offload_to(pool), issuance)

    with pytest.raises(LookupError, match="refused"):
        asyncio.run(main())


def test_the_loop_serves_others_while_a_blocking_call_waits() -> None:
    released = threading.Event()
    order: list[str] = []

    def device() -> str:
        released.wait(timeout=10)
        return "signed"

    async def other() -> None:
        order.append("other ran")
        released.set()  # only reachable while the first call is suspended

    async def main() -> str:
        with ThreadPoolExecutor(1) as pool:
            first = asyncio.create_task(run_on_loop(_offload_to(pool), blocking, device))
            await asyncio.sleep(0)
            await other()
            return await first

    assert asyncio.run(main()) == "signed"
    assert order == ["other ran"]


def test_outside_run_on_loop_blocking_calls_in_place() -> None:
    assert blocking(_thread) == threading.current_thread().name


def test_a_call_that_names_a_lane_runs_there_and_not_in_the_offload() -> None:
    lane = DeviceLane("test")

    def issuance() -> tuple[str, str]:
        return blocking(_thread, lane=lane), blocking(_thread)

    async def main() -> tuple[str, str]:
        with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
            return await run_on_loop(_offload_to(pool), issuance)

    on_lane, in_pool = asyncio.run(main())
    assert on_lane == "device lane test"
    assert in_pool.startswith("pool")
