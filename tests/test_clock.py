"""The clock that time-dependent logic reads, and the manual one tests drive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bodo_jupyter.platform.clock import SystemClock

from .manual_clock import ManualClock


def test_system_clock_is_aware_utc_and_waits_for_the_event():
    async def main() -> None:
        clock = SystemClock()
        assert clock.now().tzinfo is UTC
        event = asyncio.Event()
        assert await clock.wait(0, event) is False
        event.set()
        assert await clock.wait(3600, event) is True  # returns at once: the event is set

    asyncio.run(main())


def test_manual_clock_wakes_waits_when_their_time_comes():
    async def main() -> None:
        t0 = datetime(2030, 1, 1, tzinfo=UTC)
        clock = ManualClock(t0)
        event = asyncio.Event()
        short = asyncio.create_task(clock.wait(10, event))
        long = asyncio.create_task(clock.wait(60, event))
        await asyncio.sleep(0)  # both are waiting now
        clock.advance(timedelta(seconds=9))
        await asyncio.sleep(0)
        assert not short.done() and not long.done()
        clock.advance(timedelta(seconds=1))
        assert await short is False and not long.done()
        event.set()
        assert await long is True
        assert clock.now() == t0 + timedelta(seconds=10)

    asyncio.run(main())
