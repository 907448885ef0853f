"""Jobs across a restart of the control plane: a running job keeps running and is
followed again (real processes); a cron job runs once for the times it missed, never
twice (in-process, on a clock the test moves)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bodo_jupyter.contract.models import CreateJobRequest
from bodo_jupyter.platform.identity import Identity
from bodo_jupyter.platform.models import Cluster, ClusterStatus
from bodo_jupyter.platform.service import ControlPlane
from bodo_jupyter.platform.views import iso

from .git_server import GitServer
from .helpers import Serve, track, wait_for
from .manual_clock import ManualClock

TOKEN = "restart-t0ken"


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "bob", TOKEN).start()
    server.create_repo("acme", "jobs", {"main": {
        "hello.py": "from mpi4py import MPI\nprint('hi from', MPI.COMM_WORLD.rank)\n",
        # Waits for an event, not for time: until the file named by its argument exists.
        "gate.py": "import os, sys, time\nprint('start', flush=True)\n"
                   "while not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"
                   "print('woke up')\n",
    }})
    yield server
    server.stop()


@pytest.fixture
def plane(tmp_path, git) -> Iterator[Serve]:
    (tmp_path / "bodo_jupyter_config.py").write_text(
        git.plane_config())
    s = Serve(tmp_path).start()
    _, out = s.http("POST", "/clusters", {"name": "c", "instance_type": "local.small",
                                               "instances": 2})
    assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
    try:
        yield s
    finally:
        s.shut_down()


def job_body(git: GitServer, **kw) -> dict:
    return {"cluster": "c", "path": f"{git.url}/acme/jobs", "git_username": "bob",
            "git_password": TOKEN, **kw}


@pytest.mark.mpi
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_running_job_survives_any_stop_of_the_control_plane(plane, git, gate_dir, sig):
    """A graceful stop (systemd's SIGTERM, Ctrl-C) or a crash: the run goes on, and the
    next start follows it to its end. Only a user or its timeout cancels a run."""
    gate = gate_dir / "open"  # the job runs until the test makes this file
    status, job = plane.http("POST", "/jobs", job_body(git, name="long",
                                                       command=f"gate.py {gate}"))
    assert status == 201
    run_id = job["last_run"]["id"]
    wait_for(lambda: plane.http("GET", f"/jobs/long/runs/{run_id}")[1]["phase"] == "running",
             30, what="the job to run")
    assert plane.http("GET", "/clusters/c")[1]["holder"]["id"] == run_id
    wait_for(lambda: "start" in plane.http("GET", f"/jobs/long/runs/{run_id}/logs")[1]["text"],
             30, what="the job's first output")
    plane.stop(sig)
    plane.start()
    # The lease is in the database: the run still holds the cluster after the crash,
    # and nothing else can take it meanwhile.
    assert plane.http("GET", "/clusters/c")[1]["holder"]["id"] == run_id
    status, err = plane.http("POST", "/jobs", job_body(git, name="other", command="hello.py"))
    assert status == 409 and f"(run {run_id})" in err["error"]["message"], err
    gate.touch()
    task = plane.wait_task(job["last_run"]["task_id"])
    assert task["status"] == "FINISHED", task
    assert any("kept running while the control plane restarted" in e["message"]
               for e in task["events"])
    run = plane.http("GET", f"/jobs/long/runs/{run_id}")[1]
    assert run["status"] == "FINISHED" and run["exit_code"] == 0 and run["attempts"] == 1
    text = plane.http("GET", f"/jobs/long/runs/{run_id}/logs")[1]["text"]
    assert text.count("woke up") == 2 and text.count("[platform] $ ") == 1
    assert text.count("start") >= 2 and "[platform] exit code 0" in text, text
    assert "cancel" not in text.lower(), text
    assert plane.http("GET", "/clusters/c")[1]["holder"] is None


# -- the scheduler across downtime, on a clock moved by hand ------------------------------

T0 = datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC)
EVERY_5_MIN = "*/5 * * * *"


def at(hh_mm: str) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return T0.replace(hour=h, minute=m, second=0)


async def until(plane: ControlPlane, pred, what: str, timeout: float = 60):
    """Until ``pred()`` holds, checked again whenever a task changes (never on a timer;
    ``timeout`` only bounds a failure)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := pred()):
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await plane.engine.wait_for_change(deadline - loop.time())
    return value


def runs_of(plane: ControlPlane, ident: Identity) -> list[dict]:
    """The job's runs, oldest due time first."""
    items = plane.jobs.runs(ident, "tick", limit=500)["items"]
    return sorted(items, key=lambda r: r["due_at"])


def ended(runs: list[dict]) -> bool:
    return all(r["status"] not in ("NEW", "INPROGRESS") for r in runs)


def stand_in(plane: ControlPlane) -> tuple[Identity, str]:
    """The default user, and a RUNNING stand-in cluster record named 'stand-in' with no
    process behind it (a test sets it FAILED so that runs fail fast): made before the
    control plane starts, so that no health check sees the record first."""
    plane.store.upgrade()
    ident = plane.ensure_user(plane.default_user, plane.default_organization, is_admin=True)
    with plane.store.session() as s:
        c = Cluster(org_id=ident.org_id, name="stand-in", provider="local",
                    instance_type="local.small", instances=1, cores_per_instance=1,
                    created_by=ident.user_id, status=ClusterStatus.RUNNING)
        s.add(c)
        s.flush()
        return ident, c.id


def test_cron_catches_up_once_after_downtime_and_never_twice(tmp_path):
    """The scheduler, on a real control plane (SQLite store, task engine) whose clock
    the test moves: a cron job due every 5 minutes runs on time; the control plane
    stops; four due times pass; on the next start it runs once, for the latest time
    missed, noting the three before it were skipped; then once for the next time.

    This test is about the scheduler, not about running code: the job's cluster is a
    stand-in record that is FAILED, so every run fails fast in its wait-cluster step
    ("cluster ... is FAILED"), with no process started.
    """

    async def main() -> None:
        clock = ManualClock(T0)
        plane = track(ControlPlane(data_dir=str(tmp_path), clock=clock))
        # The stand-in cluster and the job are made before the control plane starts,
        # so that no health check runs while the cluster record claims to be RUNNING.
        ident, cluster_id = stand_in(plane)
        job = await plane.jobs.create(ident, CreateJobRequest.parse({
            "name": "tick", "cluster": "stand-in", "command": "hello.py",
            "path": "https://git.example.invalid/acme/jobs",
            "schedule": {"type": "cron", "cron": EVERY_5_MIN}}))
        assert job["schedule"]["next_run_at"] == iso(at("12:05"))
        plane.clusters.set_status(cluster_id, ClusterStatus.FAILED, "a stand-in for tests")
        await plane.start()
        try:
            # On time: the clock reaches 12:05, the scheduler's wait ends, one run.
            clock.advance_to(at("12:05"))
            runs = await until(plane, lambda: (r := runs_of(plane, ident)) and ended(r) and r,
                               "the 12:05 run to end")
            assert [(r["due_at"], r["trigger"], r["status"]) for r in runs] == [
                (iso(at("12:05")), "cron", "FAILED")]
            assert "cluster 'stand-in' is FAILED" in runs[0]["reason"], runs[0]
            assert plane.jobs.get(ident, "tick")["schedule"]["next_run_at"] == iso(at("12:10"))
        finally:
            await plane.stop()

        # Down from 12:05 to 12:27:10: 12:10, 12:15, 12:20 and 12:25 pass unseen.
        clock.advance_to(at("12:27") + timedelta(seconds=10))
        plane = track(ControlPlane(data_dir=str(tmp_path), clock=clock))
        await plane.start()
        try:
            runs = await until(plane, lambda: (r := runs_of(plane, ident)) and len(r) == 2
                               and ended(r) and r, "the catch-up run to end")
            catch_up = runs[1]
            assert catch_up["due_at"] == iso(at("12:25")) and catch_up["trigger"] == "cron"
            log = (await plane.jobs.logs(ident, "tick", catch_up["id"], 0, 0))["text"]
            assert "3 earlier due time(s) were missed and skipped" in log, log
            assert plane.jobs.get(ident, "tick")["schedule"]["next_run_at"] == iso(at("12:30"))
            # Another scheduler pass at the same time makes nothing: never twice.
            plane.scheduler.fire_due()
            assert len(runs_of(plane, ident)) == 2

            # The next due time: one more run, and only one.
            clock.advance_to(at("12:30"))
            runs = await until(plane, lambda: (r := runs_of(plane, ident)) and len(r) == 3
                               and ended(r) and r, "the 12:30 run to end")
            plane.scheduler.fire_due()
            runs = runs_of(plane, ident)
            assert [r["due_at"] for r in runs] == [iso(at(t)) for t in ("12:05", "12:25",
                                                                         "12:30")]
            log = (await plane.jobs.logs(ident, "tick", runs[2]["id"], 0, 0))["text"]
            assert "missed" not in log, log
        finally:
            await plane.stop()

    asyncio.run(main())
