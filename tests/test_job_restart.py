"""Jobs across a restart of the control plane: a running job keeps running and is
followed again; a cron job runs once for the times it missed, never twice."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from .git_server import GitServer
from .helpers import Serve, assert_no_cluster_processes, wait_for

pytestmark = pytest.mark.mpi

TOKEN = "restart-t0ken"


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "bob", TOKEN).start()
    server.create_repo("acme", "jobs", {"main": {
        "hello.py": "from mpi4py import MPI\nprint('hi from', MPI.COMM_WORLD.rank)\n",
        "sleep.py": "import sys, time\nprint('start', flush=True)\n"
                    "time.sleep(float(sys.argv[1]))\nprint('woke up')\n",
    }})
    yield server
    server.stop()


@pytest.fixture
def plane(tmp_path, git) -> Iterator[Serve]:
    (tmp_path / "bodo_jupyter_config.py").write_text(
        f"c.SourceFetcher.git_ca_file = {str(git.cert)!r}\n"
        "c.JobScheduler.max_sleep = 0.2\n"
        "c.JobScheduler.misfire_grace_s = 1.0\n")
    s = Serve(tmp_path).start()
    _, out = s.http("POST", "/clusters", {"name": "c", "instance_type": "local.small",
                                               "instances": 2})
    assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
    try:
        yield s
    finally:
        try:
            s.clean_up()
        finally:
            s.stop()
    assert_no_cluster_processes(s.plane_id)


def job_body(git: GitServer, **kw) -> dict:
    return {"cluster": "c", "path": f"{git.url}/acme/jobs", "git_username": "bob",
            "git_password": TOKEN, **kw}


def test_a_running_job_survives_a_crash_of_the_control_plane(plane, git):
    status, job = plane.http("POST", "/jobs", job_body(git, name="long", command="sleep.py 4"))
    assert status == 201
    run_id = job["last_run"]["id"]
    wait_for(lambda: plane.http("GET", f"/jobs/long/runs/{run_id}")[1]["phase"] == "running",
             30, what="the job to run")
    plane.stop(signal.SIGKILL)
    plane.start()
    task = plane.wait_task(job["last_run"]["task_id"])
    assert task["status"] == "FINISHED", task
    assert any("kept running while the control plane restarted" in e["message"]
               for e in task["events"])
    run = plane.http("GET", f"/jobs/long/runs/{run_id}")[1]
    assert run["status"] == "FINISHED" and run["exit_code"] == 0 and run["attempts"] == 1
    text = plane.http("GET", f"/jobs/long/runs/{run_id}/logs")[1]["text"]
    assert text.count("woke up") == 2 and text.count("[platform] $ ") == 1


def test_cron_catches_up_once_after_downtime_and_never_twice(plane, git):
    status, job = plane.http("POST", "/jobs", job_body(
        git, name="tick", command="hello.py",
        schedule={"type": "cron", "cron": "* * * * * */2"}))
    assert status == 201, job

    def runs() -> list[dict]:
        return plane.http("GET", "/jobs/tick/runs?limit=500")[1]["items"]

    wait_for(lambda: len(runs()) >= 1, 20, what="a first run")
    plane.stop(signal.SIGKILL)
    before = {r["id"] for r in runs_from_db(plane)}
    time.sleep(6)  # three due times pass while nobody is there
    restarted = datetime.now(UTC)
    plane.start()
    wait_for(lambda: len(runs()) > len(before), 20, what="the catch-up run")
    new = [r for r in runs() if r["id"] not in before]
    catch_up = min(new, key=lambda r: r["created_at"])
    log = plane.http("GET", f"/jobs/tick/runs/{catch_up['id']}/logs")[1]["text"]
    assert "earlier due time(s) were missed and skipped" in log, log
    # Exactly one run was made for all the times missed while down.
    missed = [r for r in new
              if datetime.fromisoformat(r["due_at"].replace("Z", "+00:00")) < restarted]
    assert len(missed) == 1, new
    all_runs = runs()
    assert len({r["due_at"] for r in all_runs}) == len(all_runs)
    plane.http("PATCH", "/jobs/tick", {"active": False})
    for r in runs():
        if r["status"] in ("NEW", "INPROGRESS"):
            plane.wait_task(r["task_id"])


def runs_from_db(plane: Serve) -> list[dict]:
    """Runs as recorded (the control plane is down: read its database directly)."""
    import sqlite3

    db = sqlite3.connect(plane.data_dir / "bodo-jupyter.sqlite")
    try:
        rows = db.execute("SELECT id, due_at FROM job_runs").fetchall()
    finally:
        db.close()
    return [{"id": i, "due_at": d} for i, d in rows]
