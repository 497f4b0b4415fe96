"""The flow drivers: one generator, sync and async, same results and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs
import pytest

from imagesig._flow import Flow, Gather, Sleep, drive_async, drive_sync


@attrs.frozen
class Echo:
    value: Any
    fail: bool = False

    def run_sync(self, env: list[str]) -> Any:
        env.append(f"sync:{self.value}")
        if self.fail:
            raise ValueError(self.value)
        return self.value

    async def run_async(self, env: list[str]) -> Any:
        await asyncio.sleep(0)
        env.append(f"async:{self.value}")
        if self.fail:
            raise ValueError(self.value)
        return self.value


def adder(a: int, b: int) -> Flow[int]:
    x = yield Echo(a)
    y = yield Echo(b)
    return x + y


def recovering() -> Flow[str]:
    try:
        yield Echo("boom", fail=True)
    except ValueError as exc:
        return f"recovered {exc}"
    return "not reached"


def test_sync_and_async_drivers_give_the_same_result() -> None:
    log: list[str] = []
    assert drive_sync(adder(2, 3), log) == 5
    assert asyncio.run(drive_async(adder(2, 3), log)) == 5
    assert log == ["sync:2", "sync:3", "async:2", "async:3"]


def test_effect_errors_are_thrown_into_the_flow() -> None:
    assert drive_sync(recovering(), []) == "recovered boom"
    assert asyncio.run(drive_async(recovering(), [])) == "recovered boom"


def test_unhandled_effect_errors_propagate() -> None:
    def failing() -> Flow[None]:
        yield Echo("x", fail=True)

    with pytest.raises(ValueError, match="x"):
        drive_sync(failing(), [])
    with pytest.raises(ValueError, match="x"):
        asyncio.run(drive_async(failing(), []))


def test_gather_keeps_order_and_runs_concurrently_when_async() -> None:
    def gathered() -> Flow[list[int]]:
        results: list[int] = yield Gather([adder(i, i) for i in range(5)], limit=3)
        return results

    log: list[str] = []
    assert drive_sync(gathered(), log) == [0, 2, 4, 6, 8]
    assert log[:2] == ["sync:0", "sync:0"]
    async_log: list[str] = []
    assert asyncio.run(drive_async(gathered(), async_log)) == [0, 2, 4, 6, 8]
    # Concurrent: the first effects of several flows run before the second of the first.
    assert async_log.index("async:1") < async_log.index("async:0", 1)


def test_sync_driver_works_inside_a_running_event_loop() -> None:
    async def inside() -> int:
        return drive_sync(adder(1, 1), [])

    assert asyncio.run(inside()) == 2


def test_sleep_effect_sleeps_in_both_drivers() -> None:
    def sleeper() -> Flow[str]:
        yield Sleep(0)
        return "done"

    assert drive_sync(sleeper(), None) == "done"
    assert asyncio.run(drive_async(sleeper(), None)) == "done"
