"""What time it is, and waiting until later: one object, so that time can be driven.

The job scheduler and the job service read "now" from a :class:`Clock`, and the
scheduler's loop waits through it. :class:`SystemClock` is the real one and the
default; ``ControlPlane(clock=...)`` takes another (tests pass a clock they move
by hand, so that due times, downtime and catch-up need no real waiting).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class Clock:
    """The time source of time-dependent logic."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        raise NotImplementedError

    async def wait(self, seconds: float, event: asyncio.Event) -> bool:
        """Return when ``event`` is set or ``seconds`` have passed on this clock,
        whichever comes first; True if the event was set."""
        raise NotImplementedError


class SystemClock(Clock):
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait(self, seconds: float, event: asyncio.Event) -> bool:
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await event.wait()
        except TimeoutError:
            pass
        return event.is_set()
