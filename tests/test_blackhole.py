"""A Git host that never answers never freezes the control plane.

Issue 8 found six jobs pointing at such a host using up the shared thread pool:
log reads went from 0.02 s to 13.6 s, connection info timed out, a cluster
create took > 45 s. Fetches now run in slots and threads of their own with
connect, low-speed and total timeouts, and cancelling kills git. Here six
jobs hang on a black hole (tests/black_hole.py) while the API keeps answering
and a cluster create completes; cancelling them ends them CANCELLED with no
git process left; a fetch that outlives ``git_timeout`` fails and leaves no
git either; a closed port and one that never accepts read the same; and a
host the rules deny is refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bodo_jupyter.platform.jobs.sources import SourceFetcher, SourceFetchFailed

from .black_hole import BlackHole
from .git_server import GitServer
from .helpers import Serve, wait_for

pytestmark = pytest.mark.mpi

PASSWORD = "blackhole-git-pw-4242"
HANGING = 6


@pytest.fixture(scope="module")
def hole() -> Iterator[BlackHole]:
    h = BlackHole().start()
    yield h
    h.stop()
    assert not git_processes(h.port), "git processes left behind"


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "ann", PASSWORD).start()
    server.create_repo("acme", "jobs", {"main": {"hello.py": "print('hello')\n"}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("blackhole-plane")
    # Fetches hang for as long as the test needs: no timeout ends them, only a cancel.
    (data / "bodo_jupyter_config.py").write_text(
        git.plane_config() +
        "c.SourceFetcher.low_speed_time = 3600\n"
        "c.SourceFetcher.git_timeout = 3600\n")
    s = Serve(data).start()
    try:
        yield s
    finally:
        s.shut_down()


def git_processes(port: int) -> list[str]:
    """git (and its remote helpers) talking to the black hole, by their argv."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        argv = " ".join(p.info["cmdline"] or [])
        if f"127.0.0.1:{port}" in argv and "git" in argv:
            found.append(f"{p.pid} {argv}")
    return found


def timed(plane: Serve, path: str) -> float:
    """One GET, which must answer well within 10 s (a failure bound, not a figure)."""
    t = time.perf_counter()
    status, body = plane.http("GET", path, timeout=10)
    assert status == 200, (path, body)
    return time.perf_counter() - t


def create_cluster(plane: Serve, name: str) -> float:
    t = time.perf_counter()
    status, out = plane.http("POST", "/clusters", {"name": name, "instance_type": "local.small",
                                                   "instances": 1})
    assert status == 202, out
    assert plane.wait_task(out["task"]["id"], timeout=120)["status"] == "FINISHED"
    return time.perf_counter() - t


def test_six_hanging_fetches_leave_the_api_and_cluster_creation_alone(plane: Serve,
                                                                       git: GitServer,
                                                                       hole: BlackHole):
    # Before: a cluster create, and a job with a log to read later.
    before = create_cluster(plane, "base")
    status, job = plane.http("POST", "/jobs", {
        "name": "hello", "cluster": "base", "command": "hello.py",
        "path": f"{git.url}/acme/jobs", "git_username": "ann", "git_password": PASSWORD})
    assert status == 201, job
    assert plane.wait_task(job["last_run"]["task_id"])["status"] == "FINISHED"
    reads_before = [timed(plane, "/jobs/hello/runs/latest/logs") for _ in range(20)]

    # Six jobs, each on a cluster made for it, whose fetch meets the black hole.
    runs = []
    for i in range(HANGING):
        status, job = plane.http("POST", "/jobs", {
            "name": f"hang-{i}", "cluster": {"instance_type": "local.small", "instances": 1},
            "command": "hello.py", "path": f"{hole.url}/acme/jobs",
            "git_username": "ann", "git_password": PASSWORD})
        assert status == 201, job
        runs.append(job["last_run"])
    slots = 4  # SourceFetcher.max_concurrent_fetches: the other two wait their turn
    # Each fetch first probes the port (and closes), then git connects and hangs.
    hole.wait(lambda h: h.accepted >= 2 * slots and len(h.open) >= slots, 180,
              f"{slots} git connections hanging")
    assert len(git_processes(hole.port)) >= slots

    # Meanwhile the API answers and a cluster create completes.
    reads = [timed(plane, "/jobs/hello/runs/latest/logs") for _ in range(20)]
    infos = [timed(plane, "/clusters/base/connection") for _ in range(20)]
    during = create_cluster(plane, "during")
    assert len(hole.open) >= slots, "the fetches still hang"
    for run in runs:
        status, task = plane.http("GET", f"/tasks/{run['task_id']}")
        assert task["status"] == "INPROGRESS", task
    print(json.dumps({"create_s": [round(before, 2), round(during, 2)],
                      "log_read_p50_ms": [round(sorted(reads_before)[10] * 1e3, 1),
                                          round(sorted(reads)[10] * 1e3, 1)],
                      "connection_p50_ms": round(sorted(infos)[10] * 1e3, 1)}))

    # Cancelling ends every run CANCELLED, kills git, deletes the runs' clusters.
    for i in range(HANGING):
        status, out = plane.http("POST", f"/jobs/hang-{i}/cancel")
        assert status in (200, 202), out
    for run in runs:
        task = plane.wait_task(run["task_id"], timeout=120)
        assert task["status"] == "CANCELLED", task
        assert PASSWORD not in json.dumps(task)
        status, got = plane.http("GET", f"/jobs/{run['job_id']}/runs/{run['id']}")
        assert got["status"] == "CANCELLED", got
        status, log = plane.http("GET", f"/jobs/{run['job_id']}/runs/{run['id']}/logs")
        assert PASSWORD not in log["text"]
    wait_for(lambda: not git_processes(hole.port), 30, what="git to be gone")
    hole.wait(lambda h: not h.open, 30, "every connection closed")
    names = {c["name"] for c in plane.http("GET", "/clusters")[1]["items"]
             if c["status"] not in ("TERMINATED",)}
    assert names <= {"base", "during"}, names
    for name in ("base", "during"):
        status, out = plane.http("DELETE", f"/clusters/{name}")
        assert status == 202 and plane.wait_task(out["task"]["id"])["status"] == "FINISHED"


def fetcher(**kw) -> SourceFetcher:
    return SourceFetcher(allowed_hosts=["127.0.0.1"], **kw)


def test_git_timeout_kills_git_and_says_so(tmp_path: Path, hole: BlackHole):
    async def main() -> None:
        f = fetcher(git_timeout=3)
        try:
            with pytest.raises(SourceFetchFailed) as err:
                await f.fetch_git(f"{hole.url}/acme/slow", None, tmp_path / "src", "ann",
                                  PASSWORD)
        finally:
            f.close()
        assert "git took longer than 3s" in err.value.message
        assert PASSWORD not in err.value.message
    asyncio.run(main())
    wait_for(lambda: not git_processes(hole.port), 30, what="git to be gone")


def test_cancelling_a_fetch_kills_git(tmp_path: Path, hole: BlackHole):
    async def main() -> None:
        f = fetcher()
        try:
            opened = hole.accepted
            fetch = asyncio.ensure_future(f.fetch_git(f"{hole.url}/acme/c", None,
                                                      tmp_path / "src", "ann", PASSWORD))
            await asyncio.to_thread(hole.wait, lambda h: h.accepted >= opened + 2 and h.open,
                                    60, "git's connection")
            assert git_processes(hole.port)
            fetch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await fetch
        finally:
            f.close()
        assert not git_processes(hole.port)  # killed before the cancel returned
    asyncio.run(main())


def test_a_closed_port_and_one_that_never_accepts_read_the_same(tmp_path: Path):
    """A refused connection and a silent one (a full accept queue drops the SYN, as a
    firewall would) give one message: the error does not tell open from filtered."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)  # never accepted: once the queue is full, SYNs go unanswered
    silent_port = silent.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", silent_port))
        fillers.append(s)

    async def message(port: int) -> str:
        f = fetcher(connect_timeout=1)
        try:
            with pytest.raises(SourceFetchFailed) as err:
                await f.fetch_git(f"https://127.0.0.1:{port}/acme/x", None, tmp_path / str(port),
                                  None, None)
        finally:
            f.close()
        return err.value.message.replace(str(port), "PORT")

    try:
        refused, dropped = asyncio.run(message(closed_port)), asyncio.run(message(silent_port))
    finally:
        for s in [*fillers, silent]:
            s.close()
    assert refused == dropped, (refused, dropped)
    assert refused.startswith("cannot reach 127.0.0.1:PORT: no connection"), refused


@pytest.mark.parametrize("host, reason", [
    ("localhost", "is not a host job sources may come from"),
    ("10.255.255.1", "is a private or internal address"),
    ("169.254.169.254", "is a private or internal address"),
    ("metadata.google.internal", "is not a host job sources may come from"),
])
def test_denied_hosts_are_refused_before_any_connection(plane: Serve, hole: BlackHole,
                                                         host: str, reason: str):
    before = hole.accepted
    status, err = plane.http("POST", "/jobs", {
        "name": "probe-internal", "cluster": {"instance_type": "local.small", "instances": 1},
        "command": "hello.py", "path": f"https://{host}:{hole.port}/acme/x"})
    assert status == 400 and err["error"]["field"] == "path", err
    assert reason in err["error"]["message"], err
    assert "SourceFetcher.allowed_hosts" in err["error"]["message"]
    assert hole.accepted == before  # refused by the rules, not by a connection
    assert "probe-internal" not in {j["name"] for j in plane.http("GET", "/jobs")[1]["items"]}
