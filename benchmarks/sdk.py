"""SDK benchmark: what a call through the SDK costs over raw HTTP with the same library.

N sequential ``GET /clusters/{name}`` and ``GET /tasks/{id}`` calls (the task
is a finished cluster create, with its events) through

* ``AsyncPlatform`` (``clusters.get``, ``tasks.get``: handles around typed
  models) against a raw ``httpx.AsyncClient`` with the same headers, plus
  ``resp.json()``;
* the blocking ``Platform`` against a raw ``httpx.Client``, plus ``resp.json()``.

Goal: <= 1.2x (medians of the per-call wall time). Both sides talk to the same
``bodo-jupyter serve`` in the same run, in alternating blocks so that machine
noise hits both alike; the client's own CPU time per call is shown too (the
server runs in a process of its own, so it is not in it).

Run: ``python benchmarks/sdk.py [--calls 500] [--block 50] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def headers(token: str) -> dict[str, str]:
    """What the SDK sends (bodo_jupyter/sdk/http.py), for the raw clients."""
    return {"Accept": "application/json", "Authorization": f"token {token}"}


class Figures:
    """Per-call wall times and per-call client CPU time of one path."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def summary(self) -> dict[str, float]:
        return {"median_us": round(statistics.median(self.wall) * 1e6, 1),
                "p90_us": round(statistics.quantiles(self.wall, n=10)[-1] * 1e6, 1),
                "cpu_per_call_us": round(statistics.median(self.cpu) * 1e6, 1)}


async def timed_async(fig: Figures, call: Callable[[], Awaitable[Any]], n: int) -> None:
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        fig.wall.append(time.perf_counter() - t0)
    fig.cpu.append((time.process_time() - c0) / n)


def timed_sync(fig: Figures, call: Callable[[], Any], n: int) -> None:
    c0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        fig.wall.append(time.perf_counter() - t0)
    fig.cpu.append((time.process_time() - c0) / n)


async def bench_async(url: str, token: str, name: str, task_id: str, calls: int,
                      block: int) -> dict[str, Figures]:
    import httpx

    from bodo_jupyter.sdk import AsyncPlatform

    figs = {k: Figures() for k in ("sdk_cluster", "raw_cluster", "sdk_task", "raw_task")}
    async with AsyncPlatform(url, token) as platform, httpx.AsyncClient(
            headers=headers(token), trust_env=False) as raw:
        async def sdk_cluster() -> None:
            c = await platform.clusters.get(name)
            assert c.name == name

        async def raw_cluster() -> None:
            r = await raw.get(f"{url}/clusters/{name}")
            r.raise_for_status()
            assert r.json()["name"] == name

        async def sdk_task() -> None:
            t = await platform.tasks.get(task_id)
            assert t.id == task_id

        async def raw_task() -> None:
            r = await raw.get(f"{url}/tasks/{task_id}")
            r.raise_for_status()
            assert r.json()["id"] == task_id

        paths = {"sdk_cluster": sdk_cluster, "raw_cluster": raw_cluster,
                 "sdk_task": sdk_task, "raw_task": raw_task}
        for call in paths.values():  # warm: connections, caches
            for _ in range(20):
                await call()
        for i in range(0, calls, block):
            n = min(block, calls - i)
            order = list(paths) if (i // block) % 2 == 0 else list(reversed(paths))
            for key in order:
                await timed_async(figs[key], paths[key], n)
    return figs


def bench_sync(url: str, token: str, name: str, task_id: str, calls: int,
               block: int) -> dict[str, Figures]:
    import httpx

    from bodo_jupyter.sdk import Platform

    figs = {k: Figures() for k in ("sdk_cluster", "raw_cluster", "sdk_task", "raw_task")}
    platform = Platform(url, token)
    raw = httpx.Client(headers=headers(token), trust_env=False)
    try:
        def sdk_cluster() -> None:
            assert platform.clusters.get(name).name == name

        def raw_cluster() -> None:
            r = raw.get(f"{url}/clusters/{name}")
            r.raise_for_status()
            assert r.json()["name"] == name

        def sdk_task() -> None:
            assert platform.tasks.get(task_id).id == task_id

        def raw_task() -> None:
            r = raw.get(f"{url}/tasks/{task_id}")
            r.raise_for_status()
            assert r.json()["id"] == task_id

        paths = {"sdk_cluster": sdk_cluster, "raw_cluster": raw_cluster,
                 "sdk_task": sdk_task, "raw_task": raw_task}
        for call in paths.values():
            for _ in range(20):
                call()
        for i in range(0, calls, block):
            n = min(block, calls - i)
            order = list(paths) if (i // block) % 2 == 0 else list(reversed(paths))
            for key in order:
                timed_sync(figs[key], paths[key], n)
    finally:
        raw.close()
        platform.close()
    return figs


def ratios(figs: dict[str, Figures]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for what in ("cluster", "task"):
        sdk, raw = figs[f"sdk_{what}"].summary(), figs[f"raw_{what}"].summary()
        out[what] = {"sdk": sdk, "raw": raw,
                     "ratio": round(sdk["median_us"] / raw["median_us"], 3),
                     "cpu_ratio": round(sdk["cpu_per_call_us"] / raw["cpu_per_call_us"], 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=500, help="calls per path (default 500)")
    ap.add_argument("--block", type=int, default=50,
                    help="calls in a row per path before the next path's turn")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    from bodo_jupyter.sdk import Platform
    from tests.helpers import Serve, assert_no_cluster_processes

    tmp = Path(tempfile.mkdtemp(prefix="bodo-bench-sdk-"))
    serve = Serve(tmp / "plane").start()
    try:
        platform = Platform(serve.url, serve.token)
        cluster = platform.clusters.create("bench-sdk", "local.small", 1, wait=True)
        name, task_id = cluster.name, cluster.task.id
        events = len(cluster.task.refresh().data.events)
        platform.close()
        figures = {
            "async": ratios(asyncio.run(bench_async(serve.url, serve.token, name, task_id,
                                                    args.calls, args.block))),
            "sync": ratios(bench_sync(serve.url, serve.token, name, task_id, args.calls,
                                      args.block)),
            "calls": args.calls, "task_events": events,
        }
    finally:
        serve.clean_up()
        serve.stop()
    assert_no_cluster_processes(serve.plane_id)

    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.calls} sequential calls per path, medians (client CPU per call in brackets); "
          f"goal <= 1.2x")
    print("| client | call | SDK | raw httpx + json | ratio | client CPU ratio |")
    print("|---|---|---|---|---|---|")
    for mode, label in (("async", "AsyncPlatform vs httpx.AsyncClient"),
                        ("sync", "Platform vs httpx.Client")):
        for what, call in (("cluster", "GET /clusters/{name}"),
                           ("task", f"GET /tasks/{{id}} ({events} events)")):
            f = figures[mode][what]
            print(f"| {label} | {call} | {f['sdk']['median_us']:.0f} us "
                  f"({f['sdk']['cpu_per_call_us']:.0f}) | {f['raw']['median_us']:.0f} us "
                  f"({f['raw']['cpu_per_call_us']:.0f}) | **{f['ratio']}x** | "
                  f"{f['cpu_ratio']}x |")


if __name__ == "__main__":
    main()
