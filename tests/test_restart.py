"""The control plane dies mid-task; on restart every task ends in a defined state
and no process is left behind."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

import ipyparallel as ipp
import psutil
import pytest

from .helpers import Serve, assert_no_cluster_processes, cluster_processes, wait_for

pytestmark = pytest.mark.mpi


def pids_of(s: Serve, cluster_id: str) -> set[int]:
    return {rec.pid for rec in cluster_processes(s.plane_id).get(cluster_id, [])}


def started_processes(s: Serve, task_id: str) -> bool:
    _, task = s.http("GET", f"/tasks/{task_id}")
    return task["status"] == "INPROGRESS" and any(
        e["step"] == "launch" and e["state"] == "done" for e in task["events"])


def hold_engines(data_dir: Path, gates: Path) -> Path:
    """Make the MPI engines of new clusters wait for a file before they start, so that a
    create stays in its register step until the test makes the file (the "gate"). The
    wrapper and the gate are in ``gates``, which the organisation's OS user can reach."""
    gate = gates / "engines-may-start"
    python = gates / "python-held"
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in *ipyparallel.engine*)\n'
        f"  while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.05; done;;\n"
        "esac\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    (data_dir / "bodo_jupyter_config.py").write_text(
        f"c.LocalProvider.python = {str(python)!r}\n")
    return gate


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_restart_during_create_resumes_it(tmp_path, gate_dir, how):
    gate = hold_engines(tmp_path, gate_dir)  # the create cannot finish before the restart
    s = Serve(tmp_path).start()
    try:
        status, out = s.http("POST", "/clusters", {"name": "survivor",
                                                   "instance_type": "local.large"})
        assert status == 202
        cid, task_id = out["cluster"]["id"], out["task"]["id"]
        wait_for(lambda: started_processes(s, task_id), 30, what="launch step")
        before = pids_of(s, cid)
        assert before, "the create should have started processes"
        s.stop(how)  # SIGKILL: crash; SIGTERM: orderly stop, the task stays open

        # The cluster's processes outlive the control plane (their own sessions)...
        assert pids_of(s, cid)
        s.start()
        gate.touch()
        # ...and the resumed create replaces them instead of duplicating them.
        task = s.wait_task(task_id)
        assert task["status"] == "FINISHED", task
        assert task["attempts"] == 2
        messages = [e["message"] for e in task["events"]]
        assert any("restarted during this task" in m for m in messages)
        assert any("left by an interrupted attempt" in m for m in messages)
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                       for p in before)

        _, conn = s.http("GET", "/clusters/survivor/connection")
        rc = ipp.Client(conn["ipyparallel"])
        try:
            rc.wait_for_engines(4, timeout=30)
            assert sorted(rc.ids) == [0, 1, 2, 3]
        finally:
            rc.close()
        _, out = s.http("DELETE", "/clusters/survivor")
        assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
        assert_no_cluster_processes(s.plane_id)
    finally:
        s.shut_down()


def test_restart_during_delete_finishes_it(tmp_path):
    s = Serve(tmp_path).start()
    try:
        status, out = s.http("POST", "/clusters", {"name": "doomed",
                                                   "instance_type": "local.medium"})
        assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
        status, out = s.http("DELETE", "/clusters/doomed")
        assert status == 202
        s.kill()  # right after the delete was accepted
        s.start()
        task = s.wait_task(out["task"]["id"])
        assert task["status"] == "FINISHED", task
        assert s.http("GET", "/clusters/doomed")[1]["status"] == "TERMINATED"
        assert_no_cluster_processes(s.plane_id)
    finally:
        s.shut_down()


def test_running_clusters_survive_a_restart(tmp_path):
    """Restarting the control plane (an upgrade, a crash) does not take clusters down."""
    s = Serve(tmp_path).start()
    try:
        _, out = s.http("POST", "/clusters", {"name": "steady", "instance_type": "local.small",
                                              "instances": 2})
        assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
        s.kill()
        s.start()
        _, cluster = s.http("GET", "/clusters/steady")
        assert cluster["status"] == "RUNNING"
        _, conn = s.http("GET", "/clusters/steady/connection")
        rc = ipp.Client(conn["ipyparallel"])
        try:
            rc.wait_for_engines(2, timeout=30)
            assert rc[:].apply_sync(lambda: 1 + 1) == [2, 2]
        finally:
            rc.close()
    finally:
        s.shut_down()


def test_orphans_of_deleted_clusters_are_swept_at_start(tmp_path):
    """Processes whose cluster record says TERMINATED are stopped on the next start."""
    s = Serve(tmp_path).start()
    try:
        _, out = s.http("POST", "/clusters", {"name": "ghost", "instance_type": "local.small"})
        assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
        cid = out["cluster"]["id"]
        s.kill()
        # Simulate a lost record: mark the cluster terminated behind the control plane's back.
        import sqlite3

        db = sqlite3.connect(tmp_path / "bodo-jupyter.sqlite")
        db.execute("UPDATE clusters SET status='TERMINATED' WHERE id=?", (cid,))
        db.commit()
        db.close()
        assert pids_of(s, cid)
        s.start()
        wait_for(lambda: not pids_of(s, cid), 30, what="the orphan sweep")
    finally:
        s.shut_down()
