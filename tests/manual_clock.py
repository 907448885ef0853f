"""A clock that tests move by hand (``ControlPlane(clock=ManualClock(...))``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bodo_jupyter.platform.clock import Clock


class ManualClock(Clock):
    """Time stands still until :meth:`advance`; then every wait whose time has come
    returns. Nothing waits for the machine's clock."""

    def __init__(self, start: datetime):
        assert start.tzinfo is not None, "a ManualClock starts at an aware time"
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, asyncio.Event]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward and wake every wait that is due by then."""
        assert delta >= timedelta(0), "time does not go back"
        self._now += delta
        due = [ev for when, ev in self._sleepers if when <= self._now]
        self._sleepers = [(w, e) for w, e in self._sleepers if w > self._now]
        for ev in due:
            ev.set()
        return self._now

    def advance_to(self, when: datetime) -> datetime:
        return self.advance(when - self._now)

    async def wait(self, seconds: float, event: asyncio.Event) -> bool:
        if event.is_set() or seconds <= 0:
            return event.is_set()
        alarm = asyncio.Event()
        entry = (self._now + timedelta(seconds=seconds), alarm)
        self._sleepers.append(entry)
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(alarm.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            if entry in self._sleepers:
                self._sleepers.remove(entry)
        return event.is_set()
