"""DeviceLane: one thread runs the loops' calls back to back; each caller gets its own answer."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading

import pytest

from appliance.pki.lane import DeviceLane

_request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="")


class Held:
    """A device call that holds the lane's thread until ``release()``, then answers ``answer``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self._gate = threading.Event()

    def __call__(self) -> str:
        self._gate.wait(timeout=10)
        return self.answer

    def release(self) -> None:
        self._gate.set()


def test_each_caller_gets_its_answer_from_the_one_lane_thread_in_its_context() -> None:
    lane = DeviceLane("hsm")
    seen: list[tuple[str, str, int]] = []

    def sign(index: int) -> str:
        seen.append((threading.current_thread().name, _request.get(), index))
        return f"signature {index}"

    async def caller(index: int) -> str:
        _request.set(f"r{index}")
        return await lane(sign, index)

    async def main() -> list[str]:
        return await asyncio.gather(*(caller(i) for i in range(20)))

    assert asyncio.run(main()) == [f"signature {i}" for i in range(20)]
    assert {thread for thread, _, _ in seen} == {"device lane hsm"}
    assert [(request, index) for _, request, index in seen] == [(f"r{i}", i) for i in range(20)]  # in order


def test_an_exception_reaches_its_caller_only_and_the_lane_goes_on() -> None:
    lane = DeviceLane("hsm")

    def sign(index: int) -> int:
        if index == 1:
            raise ValueError("device said no")
        return index

    async def main() -> list[object]:
        return await asyncio.gather(*(lane(sign, i) for i in range(3)), return_exceptions=True)

    first, failed, third = asyncio.run(main())
    assert (first, third) == (0, 2)
    assert isinstance(failed, ValueError) and str(failed) == "device said no"
    assert asyncio.run(lane(sign, 5)) == 5


def test_answers_go_to_the_loop_of_each_caller() -> None:
    lane = DeviceLane("hsm")
    gate = threading.Event()
    queued = threading.Barrier(3)
    answers: dict[int, object] = {}

    def sign(index: int) -> tuple[int, int]:
        gate.wait(timeout=10)
        return index, threading.get_ident()

    def loop_thread(index: int) -> None:
        async def main() -> None:
            call = asyncio.ensure_future(lane(sign, index))
            await asyncio.sleep(0)
            queued.wait(timeout=10)
            answers[index] = await call

        asyncio.run(main())

    threads = [threading.Thread(target=loop_thread, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    queued.wait(timeout=10)  # both loops have queued their call
    gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert {index for index, _ in answers.values()} == {0, 1}
    assert answers[0][0] == 0 and answers[1][0] == 1
    assert len({ident for _, ident in answers.values()}) == 1


def test_a_caller_that_went_away_does_not_cost_the_others_their_answers() -> None:
    lane = DeviceLane("hsm")
    held = Held("first")

    async def main() -> tuple[str, str]:
        first = asyncio.ensure_future(lane(held))
        await asyncio.sleep(0)  # the lane thread now waits in held()
        gone = asyncio.ensure_future(lane(lambda: "unwanted"))
        kept = asyncio.ensure_future(lane(lambda: "kept"))
        await asyncio.sleep(0)  # both queued behind it: one batch
        gone.cancel()
        held.release()
        return await asyncio.wait_for(first, 10), await asyncio.wait_for(kept, 10)

    assert asyncio.run(main()) == ("first", "kept")


def test_a_closed_loop_does_not_stop_the_lane() -> None:
    lane = DeviceLane("hsm")
    held = Held("late")

    loop = asyncio.new_event_loop()
    call = loop.create_task(lane(held))
    loop.run_until_complete(asyncio.sleep(0))  # the call is on the lane
    call.cancel()
    loop.run_until_complete(asyncio.gather(call, return_exceptions=True))
    loop.close()
    held.release()  # its answer finds the loop closed

    async def next_call() -> str:
        return await asyncio.wait_for(lane(lambda: "next"), 10)

    assert asyncio.run(next_call()) == "next"


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="no SCHED_BATCH on this system")
def test_the_lane_thread_does_not_preempt_the_loop() -> None:
    lane = DeviceLane("hsm")
    assert asyncio.run(lane(os.sched_getscheduler, 0)) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller's thread is untouched


def test_a_stop_iteration_reaches_its_caller_as_an_error_and_spares_the_batch() -> None:
    lane = DeviceLane("hsm")
    held = Held("first")

    async def main() -> list[object]:
        first = asyncio.ensure_future(lane(held))
        await asyncio.sleep(0)
        odd = asyncio.ensure_future(lane(next, iter(())))  # raises StopIteration
        kept = asyncio.ensure_future(lane(lambda: "kept"))
        await asyncio.sleep(0)
        held.release()
        return await asyncio.wait_for(asyncio.gather(first, odd, kept, return_exceptions=True), 10)

    first, odd, kept = asyncio.run(main())
    assert (first, kept) == ("first", "kept")
    assert isinstance(odd, RuntimeError) and isinstance(odd.__cause__, StopIteration)
