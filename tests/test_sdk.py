"""The SDK for real, against `bodo-jupyter serve`: 200 calls at once in one event
loop that never stalls, the blocking twin (also inside a running loop, as in a
Jupyter kernel), and an SDK that imports nothing of the control plane."""

from __future__ import annotations

import asyncio
import datetime
import gc
import inspect
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bodo_jupyter.sdk import APIError, AsyncPlatform, Platform, TaskFailed

from .git_server import GitServer
from .helpers import ROOT, Serve

pytestmark = pytest.mark.mpi

T = TypeVar("T")
PASSWORD = "sdk-git-password"
# Prints a line, then waits for an event, not for time: a file named after the run, in the
# folder given as its argument (a job's runs share their command line).
GATE = ("import os, sys, time\nprint('waiting', flush=True)\n"
        "gate = os.path.join(sys.argv[1], os.environ['BODO_JUPYTER_JOB_RUN'])\n"
        "while not os.path.exists(gate):\n    time.sleep(0.02)\n"
        "print('through', flush=True)\n")
HELLO = "print('hello from the sdk')\n"


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "alice", PASSWORD).start()
    server.create_repo("acme", "sdk", {"main": {"gate.py": GATE, "hello.py": HELLO}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("sdk-plane")
    (data / "bodo_jupyter_config.py").write_text(
        git.plane_config())
    s = Serve(data).start()
    try:
        yield s
    finally:
        s.shut_down()


def source(git: GitServer) -> dict[str, str]:
    return {"path": f"{git.url}/acme/sdk", "git_username": "alice", "git_password": PASSWORD}


def far_cron() -> dict[str, str]:
    """A cron schedule whose next time is months away: the job makes no run in a test."""
    month = (datetime.datetime.now(datetime.UTC).month + 5) % 12 + 1
    return {"type": "cron", "cron": f"0 0 1 {month} *", "timezone": "UTC"}


# -- 200 calls at once ----------------------------------------------------------------------

TICK = 0.01  # s, the timer's period
MAX_LATE = 0.1  # s, the most a tick may be late
RANKS = 2  # of the cluster the test makes (2 x local.small)
CRON_FIRST, CRON_SECOND = 45, 48  # cron job creates: at the start / while logs are followed
CLUSTER_WAITS = CLUSTER_FOLLOWS = 8  # long polls on the cluster create's task
RUN_WAITS = RUN_FOLLOWS = 8  # long polls on each job run's task
LOG_FOLLOWS = 28  # run.logs(follow=True) on each job run
RUNS = 2  # job runs: one made with its job, one queued behind it on the same cluster
N_CALLS = (CRON_FIRST + CRON_SECOND + 1 + 1 + (RUNS - 1) + CLUSTER_WAITS + CLUSTER_FOLLOWS
           + RUNS * (RUN_WAITS + RUN_FOLLOWS + LOG_FOLLOWS))
assert N_CALLS == 200


def sched_wait() -> float:
    """Seconds this thread has spent ready to run but waiting for a CPU (Linux)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except OSError:
        return 0.0


class Ticker:
    """Ticks every TICK seconds in the loop under test and records how late each tick
    was, with what the loop's thread did meanwhile: its own CPU time (work in the loop)
    and its time waiting for a CPU (a busy machine)."""

    def __init__(self) -> None:
        self.ticks: list[tuple[float, float, float, float]] = []  # at, late, cpu, queued
        self.stopped = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not self.stopped.is_set():
            t0, cpu0, queued0 = loop.time(), time.thread_time(), sched_wait()
            await asyncio.sleep(TICK)
            self.ticks.append((t0 - start, loop.time() - t0 - TICK,
                               time.thread_time() - cpu0, sched_wait() - queued0))

    @property
    def max_late(self) -> float:
        return max(t[1] for t in self.ticks)

    @property
    def max_stall(self) -> float:
        """The latest a tick was beyond the time the loop's thread waited for a CPU: what
        the loop itself held up (a busy machine's queueing is not the SDK's doing)."""
        return max(late - queued for _, late, _, queued in self.ticks)

    def worst(self, n: int = 5) -> str:
        return "; ".join(
            f"{late * 1000:.0f} ms late at {at:.2f}s (loop CPU {cpu * 1000:.0f} ms, "
            f"waiting for a CPU {queued * 1000:.0f} ms)"
            for at, late, cpu, queued in sorted(self.ticks, key=lambda t: -t[1])[:n])


class GCPauses:
    """The longest pause of the garbage collector while the test runs."""

    def __init__(self) -> None:
        self.longest, self._t0 = 0.0, 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._t0)


class Calls:
    """Every SDK call of the test goes through :meth:`call`: counted by kind, with the
    most in flight at once."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0

    async def call(self, kind: str, aw: Awaitable[T]) -> T:
        self.kinds[kind] += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await aw
        finally:
            self.in_flight -= 1


async def collect(ait: AsyncIterator[T]) -> list[T]:
    return [x async for x in ait]


class Followers:
    """Counts the followers of a run's log that have seen its first lines; the test opens
    the run's gate (``opened``) only once they all have."""

    def __init__(self) -> None:
        self.seen = 0
        self.all_seen = asyncio.Event()
        self.opened = False

    def saw(self) -> None:
        self.seen += 1
        if self.seen == LOG_FOLLOWS:
            self.all_seen.set()


async def follow_log(run: Any, followers: Followers) -> str:
    text, told = "", False
    async for chunk in run.logs(follow=True):
        text += chunk
        if not told and all(f"[rank {r}] waiting" in text for r in range(RANKS)):
            told = True
            assert not followers.opened and "] through" not in text, text
            followers.saw()
    return text


def check_events(events: list[Any], what: str) -> None:
    seqs = [e.seq for e in events]
    assert seqs and seqs == sorted(set(seqs)), f"{what}: events out of order: {seqs}"
    assert events[-1].step == "end" and events[-1].state == "finished", \
        f"{what}: last event {events[-1]}"


def check_log_ranks(text: str, ranks: int, what: str) -> None:
    """Each rank printed its first line, then (once through its gate) its second."""
    for rank in range(ranks):
        waiting, through = f"[rank {rank}] waiting", f"[rank {rank}] through"
        assert text.count(waiting) == text.count(through) == 1, f"{what}: {text}"
        assert text.index(waiting) < text.index(through), f"{what}: {text}"
    assert "[platform] exit code 0" in text, f"{what}: {text}"


def test_200_concurrent_async_calls_never_stall_the_loop(plane: Serve, git: GitServer,
                                                         gate_dir: Path) -> None:
    """In one event loop: a timer that ticks every 10 ms, and 200 SDK calls at once --
    job creates, a cluster create, long polls on its task and on job runs' tasks, and
    follows of the runs' logs. Every call gets the right answer, no tick is late by
    more than 100 ms beyond the time the loop's thread waited for a CPU (a machine busy
    with other work delays every tick; that is not the SDK stalling the loop), and
    nothing is left behind.

    The heap that pytest and the control plane (which the test helpers import) made
    before the test is frozen out of the garbage collector, as a long-running host
    does after start-up (``gc.freeze``): a full collection of it is a pause of this
    harness (~100k objects, 50-100 ms here), not of the SDK. What the SDK allocates is
    collected as usual, and the longest collection is reported."""
    gc.collect()
    gc.freeze()
    pauses = GCPauses()
    gc.callbacks.append(pauses)
    try:
        ticker, calls = asyncio.run(concurrent_calls(plane, git, gate_dir))
    finally:
        gc.callbacks.remove(pauses)
        gc.unfreeze()

    assert sum(calls.kinds.values()) == N_CALLS, calls.kinds
    # The second wave of creates started while every log follow and every run's long poll
    # was in flight (the first run waits for its gate until that wave is done).
    assert calls.peak >= CRON_SECOND + RUNS * (LOG_FOLLOWS + RUN_WAITS + RUN_FOLLOWS), calls.peak
    late = ticker.max_late
    print(f"\n{N_CALLS} calls ({dict(calls.kinds)}), at most {calls.peak} in flight; "
          f"{len(ticker.ticks)} ticks, the latest {late * 1000:.1f} ms late; longest GC "
          f"pause {pauses.longest * 1000:.1f} ms\nthe latest: {ticker.worst(3)}")
    stall = ticker.max_stall
    assert stall <= MAX_LATE, (
        f"a {TICK * 1000:g} ms tick was held up {stall * 1000:.1f} ms by the loop (at most "
        f"{MAX_LATE * 1000:g} ms; {late * 1000:.1f} ms late in all); the latest: "
        f"{ticker.worst()}; longest GC pause {pauses.longest * 1000:.1f} ms")


async def concurrent_calls(plane: Serve, git: GitServer, gates: Path
                           ) -> tuple[Ticker, Calls]:
    ticker = Ticker()
    tick_task = asyncio.create_task(ticker.run())
    await asyncio.sleep(0)  # the timer ticks from before the platform exists
    calls = Calls()
    platform = AsyncPlatform(plane.url, plane.token)
    try:
        async with asyncio.timeout(280):  # a bound for a hang, not a window
            made = await run_calls(platform, calls, git, gates)
            ticker.stopped.set()
            await tick_task
            await remove_everything(platform, made)
    finally:
        ticker.stopped.set()
        await tick_task
        await platform.close()
    return ticker, calls


async def run_calls(platform: AsyncPlatform, calls: Calls, git: GitServer,
                    gates: Path) -> list[Any]:
    src = source(git)
    cron = far_cron()
    followers = [Followers() for _ in range(RUNS)]
    second_wave_done = asyncio.Event()

    async def cron_create(name: str) -> Any:
        job = await calls.call("create", platform.jobs.create(
            name, command="hello.py", instance_type="local.small", schedule=cron, **src))
        assert job.name == name and job.data.schedule.type == "cron", job.data
        assert job.data.schedule.active and job.data.schedule.next_run_at, job.data.schedule
        assert job.last_run is None and job.data.new_cluster is not None, job.data
        return job

    async def cluster() -> Any:
        c = await calls.call("create", platform.clusters.create("sdk-busy", "local.small",
                                                                RANKS))
        assert c.name == "sdk-busy" and c.status in ("NEW", "CREATING"), c
        assert c.task is not None and c.task.kind == "cluster.create", c.task
        # Several long polls on one task, through one shared handle.
        done = await asyncio.gather(
            *[calls.call("long-poll", c.task.wait()) for _ in range(CLUSTER_WAITS)],
            *[calls.call("long-poll", collect(c.task.follow())) for _ in range(CLUSTER_FOLLOWS)])
        for task in done[:CLUSTER_WAITS]:
            assert task.status == "FINISHED", task.data
        for events in done[CLUSTER_WAITS:]:
            check_events(events, "cluster create")
        return c

    async def follow_run(i: int, run: Any) -> None:
        gate = gates / run.id

        async def task_events() -> list[Any]:
            task = await run.task()
            events = await collect(task.follow())
            assert task.status == "FINISHED", task.data
            return events

        async def open_gate() -> None:
            await followers[i].all_seen.wait()
            if i == 0:  # the first run goes on once the second wave of creates is done
                await second_wave_done.wait()
            followers[i].opened = True
            gate.touch()

        opener = asyncio.create_task(open_gate())
        out = await asyncio.gather(
            *[calls.call("log-follow", follow_log(run, followers[i]))
              for _ in range(LOG_FOLLOWS)],
            *[calls.call("long-poll", run.wait()) for _ in range(RUN_WAITS)],
            *[calls.call("long-poll", task_events()) for _ in range(RUN_FOLLOWS)])
        await opener
        texts = out[:LOG_FOLLOWS]
        assert len(set(texts)) == 1, f"followers of run {i} read different logs: {texts}"
        check_log_ranks(texts[0], RANKS, f"run {i}")
        for r in out[LOG_FOLLOWS:LOG_FOLLOWS + RUN_WAITS]:
            assert r.status == "FINISHED" and r.exit_code == 0, r.data
        for events in out[LOG_FOLLOWS + RUN_WAITS:]:
            check_events(events, f"run {i}")

    async def job_runs() -> list[Any]:
        c = await cluster()
        job = await calls.call("create", platform.jobs.create(
            "sdk-gated", command=f"gate.py {gates}", cluster=c.name, **src))
        first = job.last_run
        assert first is not None and first.status in ("NEW", "INPROGRESS"), job.data
        # A second run, queued behind the first on the same cluster.
        second = await calls.call("create", job.run_now())
        assert second.id != first.id and second.status in ("NEW", "INPROGRESS"), second.data
        await asyncio.gather(follow_run(0, first), follow_run(1, second))
        return [job, c]

    async def second_wave() -> list[Any]:
        await followers[0].all_seen.wait()
        jobs = await asyncio.gather(*[cron_create(f"sdk-cron-b{k:02d}")
                                      for k in range(CRON_SECOND)])
        second_wave_done.set()
        return jobs

    first, runs, second = await asyncio.gather(
        asyncio.gather(*[cron_create(f"sdk-cron-a{k:02d}") for k in range(CRON_FIRST)]),
        job_runs(), second_wave())
    return [*first, *second, *runs]


async def remove_everything(platform: AsyncPlatform, made: list[Any]) -> None:
    jobs, clusters = made[:-1], made[-1:]
    deleted = await asyncio.gather(*[job.delete() for job in jobs])
    assert all(d.deleted for d in deleted)
    for c in clusters:
        await c.delete(wait=True)
        assert c.status == "TERMINATED"
    mine = {j.name for j in jobs} | {c.name for c in clusters}
    assert not [j.name for j in await platform.jobs.list() if j.name in mine]
    assert not [c.name for c in await platform.clusters.list() if c.name in mine]


def test_one_async_platform_in_one_loop_after_another(plane: Serve) -> None:
    """A script may call asyncio.run more than once with the same client: its
    connections belong to the first loop, which is closed by then."""
    platform = AsyncPlatform(plane.url, plane.token)

    async def names() -> list[str]:
        return [j.name for j in await platform.jobs.list()]

    assert asyncio.run(names()) == asyncio.run(names())
    asyncio.run(platform.close())


# -- the blocking twin ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sync_cluster(plane: Serve) -> Iterator[str]:
    """A RUNNING cluster for the blocking client's jobs (made without the SDK)."""
    status, out = plane.http("POST", "/clusters", {"name": "sdk-sync", "instance_type":
                                                   "local.small", "instances": 1})
    assert status == 202, out
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
    yield "sdk-sync"
    status, out = plane.http("DELETE", "/clusters/sdk-sync")
    assert status == 202, out
    assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"


def blocking(obj: Any, *methods: str) -> None:
    """``obj`` is a blocking handle: these methods are plain functions, not coroutines."""
    assert not inspect.isawaitable(obj), obj
    for name in methods:
        method = getattr(obj, name)
        assert callable(method) and not inspect.iscoroutinefunction(method), (obj, name)
        assert not inspect.isasyncgenfunction(method), (obj, name)


def test_blocking_platform_from_plain_code(plane: Serve, git: GitServer, sync_cluster: str,
                                           gate_dir: Path) -> None:
    src = source(git)
    p = Platform(plane.url, plane.token)
    try:
        blocking(p, "info", "instance_types")
        blocking(p.clusters, "create", "get", "list", "delete")
        assert p.info().user.name
        assert "local.small" in [t.name for t in p.instance_types()]

        # Errors are APIError, with what a program needs.
        with pytest.raises(APIError) as err:
            p.clusters.get("no-such-cluster")
        assert (err.value.status, err.value.code) == (404, "not_found"), vars(err.value)
        with pytest.raises(APIError) as err:
            p.clusters.create("Not A Name!", "local.small", 1)
        assert (err.value.status, err.value.field) == (400, "name"), vars(err.value)
        with pytest.raises(APIError) as err:
            p.jobs.create("bad-cron", command="hello.py", instance_type="local.small",
                          schedule={"type": "cron", "cron": "every day"}, **src)
        assert (err.value.status, err.value.field) == (400, "schedule.cron"), vars(err.value)
        with pytest.raises(APIError) as err:  # refused before any request
            p.jobs.create("no-target", command="hello.py", **src)
        assert (err.value.status, err.value.field) == (0, "cluster"), vars(err.value)

        # Handles that come back are blocking too, and so are their handles.
        cluster = p.clusters.get(sync_cluster)
        blocking(cluster, "refresh", "delete", "connection", "attach")
        assert cluster.refresh().status == "RUNNING" and cluster.name == sync_cluster
        assert [c.name for c in p.clusters.list()] == [sync_cluster]
        rc = cluster.attach(timeout=60)  # an ipyparallel Client on its one rank
        try:
            assert rc.ids == [0] and rc[:].apply_sync(lambda: 6 * 7) == [42]
        finally:
            rc.close()
        job = p.jobs.create("sdk-sync-gated", command=f"gate.py {gate_dir}",
                            cluster=sync_cluster, **src)
        blocking(job, "refresh", "runs", "run", "run_now", "cancel", "set_active", "delete")
        run = job.last_run
        blocking(run, "refresh", "task", "wait", "logs", "log_text")
        task = run.task()
        blocking(task, "refresh", "cancel", "follow", "wait")

        # Iterators yield as things happen: the run prints, then waits for the test.
        with pytest.raises(APIError) as err:
            run.wait(timeout=0.1)  # it cannot end: its gate is shut
        assert err.value.code == "timeout", vars(err.value)
        chunks = []
        for chunk in run.logs(follow=True):
            chunks.append(chunk)
            if "[rank 0] waiting" in chunk:
                assert run.refresh().status == "INPROGRESS"
                (gate_dir / run.id).touch()
        check_log_ranks("".join(chunks), 1, "blocking run")
        events = list(task.follow())
        check_events(events, "blocking run")
        assert task.status == "FINISHED" and run.wait().exit_code == 0
        assert [r.id for r in job.runs()] == [run.id]

        # An iterator left early is closed, and the client goes on.
        again = job.run_now()
        first = next(iter(again.task().follow()))
        assert first.seq == 1
        (gate_dir / again.id).touch()
        assert again.wait(timeout=120).status == "FINISHED"

        # A run that fails raises TaskFailed (an APIError), with the task.
        failing = p.jobs.create("sdk-sync-fails", command="nope.py", cluster=sync_cluster,
                                **src)
        with pytest.raises(TaskFailed) as failed:
            failing.last_run.wait()
        assert isinstance(failed.value, APIError) and failed.value.code == "failed"
        assert "nope.py" in failed.value.message and failed.value.task.status == "FAILED"

        # An async client on the same API, for code with an event loop of its own.
        async def via_async() -> str:
            ap = p.async_client()
            try:
                return (await ap.clusters.get(sync_cluster)).name
            finally:
                await ap.close()

        assert asyncio.run(via_async()) == sync_cluster

        # From several threads at once.
        with ThreadPoolExecutor(8) as pool:
            names = list(pool.map(lambda _: p.clusters.get(sync_cluster).name, range(32)))
        assert names == [sync_cluster] * 32

        for j in (job, failing):
            assert j.delete().deleted
        assert p.jobs.list() == []
    finally:
        p.close()


def test_blocking_platform_inside_a_running_event_loop(plane: Serve, git: GitServer,
                                                       sync_cluster: str) -> None:
    """As in a Jupyter kernel: plain code (a magic, a cell's helper) runs while the
    kernel's event loop runs in the same thread."""
    src = source(git)

    def helper() -> dict[str, Any]:
        asyncio.get_running_loop()  # there is one, in this thread
        p = Platform(plane.url, plane.token)
        try:
            job = p.jobs.create("sdk-in-a-loop", command="hello.py", cluster=sync_cluster,
                                **src)
            run = job.last_run
            text = "".join(run.logs(follow=True))
            events = list(run.task().follow())
            with pytest.raises(APIError) as err:
                p.jobs.get("no-such-job")
            out = {"text": text, "events": events, "status": run.wait().status,
                   "error": (err.value.status, err.value.code)}
            assert job.delete().deleted
            return out
        finally:
            p.close()

    async def cell() -> dict[str, Any]:
        out = helper()
        await asyncio.sleep(0)  # the loop goes on afterwards
        return out

    out = asyncio.run(cell())
    assert "hello from the sdk" in out["text"] and out["status"] == "FINISHED", out
    check_events(out["events"], "run from a loop")
    assert out["error"] == (404, "not_found")


# -- the SDK alone --------------------------------------------------------------------------

ALONE = """
import asyncio, json, sys
import bodo_jupyter.sdk as sdk

p = sdk.Platform()  # found through BODO_JUPYTER_URL and BODO_JUPYTER_TOKEN
clusters = [c.name for c in p.clusters.list()]
try:
    p.clusters.get("no-such-cluster")
except sdk.APIError as e:
    error = [e.status, e.code]
p.close()


async def main():
    async with sdk.AsyncPlatform() as ap:
        return (await ap.info()).version, len(await ap.jobs.list())

version, jobs = asyncio.run(main())
print(json.dumps({"modules": sorted(m for m in sys.modules if m.startswith("bodo_jupyter")),
                  "others": [m for m in ("sqlalchemy", "alembic", "tornado", "traitlets")
                             if m in sys.modules],
                  "clusters": clusters, "error": error, "version": version, "jobs": jobs}))
"""


def test_the_sdk_imports_nothing_of_the_control_plane(plane: Serve) -> None:
    """In a fresh interpreter, the SDK works against the server without a single module
    of the control plane (``bodo_jupyter.platform``) or of its own dependencies."""
    r = subprocess.run([sys.executable, "-c", ALONE], env=plane.client_env(), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["error"] == [404, "not_found"] and out["version"], out
    platform = [m for m in out["modules"] if m.split(".")[:2] == ["bodo_jupyter", "platform"]]
    assert platform == [], platform
    assert "bodo_jupyter.sdk" in out["modules"], out["modules"]
    assert out["others"] == [], out["others"]
