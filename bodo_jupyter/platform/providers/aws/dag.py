"""Run the resource graph: every node as soon as what it needs is done.

Creation stops at the first failure (after letting the running nodes settle,
so that what they made is recorded and can be rolled back). Deletion goes on
with every node it still can and reports all failures at the end, so that one
stuck resource does not keep the others alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ...errors import PlatformError, ProvisionError
from .plan import Node, reverse_deps

Event = Callable[[str, str, str], None]  # (node, state, message)


async def run_graph(nodes: list[Node], run: Callable[[Node], Awaitable[None]], *,
                    event: Event, reverse: bool = False) -> None:
    needs = reverse_deps(nodes) if reverse else {n.name: set(n.deps) for n in nodes}
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    failed: dict[str, BaseException] = {}
    running: dict[asyncio.Task[None], str] = {}

    def start_ready() -> None:
        for n in nodes:
            if n.name in done or n.name in failed or n.name in running.values():
                continue
            if needs[n.name] & set(failed):
                failed[n.name] = ProvisionError(f"skipped: {', '.join(needs[n.name] & set(failed))}"
                                                " could not be removed")
                event(n.name, "failed", str(failed[n.name]))
                continue
            if needs[n.name] <= done:
                event(n.name, "started", n.title)
                running[asyncio.ensure_future(run(n))] = n.name

    try:
        start_ready()
        while running:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for t in finished:
                name = running.pop(t)
                exc = t.exception()
                if exc is None:
                    done.add(name)
                    event(name, "done", by_name[name].title)
                else:
                    failed[name] = exc
                    msg = exc.message if isinstance(exc, PlatformError) else \
                        f"{type(exc).__name__}: {exc}"
                    event(name, "failed", msg)
            if failed and not reverse:
                # Let the others finish what they are doing (and record it), then stop.
                if running:
                    await asyncio.wait(running)
                    for t, name in list(running.items()):
                        if t.exception() is None:
                            done.add(name)
                            event(name, "done", by_name[name].title)
                    running.clear()
                break
            start_ready()
    except BaseException:
        for t in running:
            t.cancel()
        if running:
            await asyncio.wait(running)
        raise
    if failed:
        first = next(iter(failed.values()))
        if reverse and len(failed) > 1:
            raise ProvisionError("; ".join(
                f"{k}: {v.message if isinstance(v, PlatformError) else v}"
                for k, v in failed.items() if not str(v).startswith("skipped")))
        raise first
