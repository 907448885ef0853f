"""Notebooks as platform objects: a Jupyter server per notebook, started by a task,
probed over HTTP, attached to a cluster it holds, stopped with nothing left."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from typing import Any

import pytest

from bodo_jupyter.platform.providers.local_notebook_launch import TAG_NOTEBOOK

from .helpers import Serve, assert_no_cluster_processes, http, notebook_processes, wait_for
from .jupyter import run_cells, start_kernel

pytestmark = pytest.mark.mpi

HUB_TOKEN = "hub-api-token-SECRET-0123456789abcdef"  # never in an answer, event or log


def create(serve: Serve, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    code, out = serve.http("POST", "/notebooks", body)
    assert code == status, out
    return out


def get_status(url: str, token: str | None) -> int:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def started(serve: Serve, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a notebook and follow its task to the end: (notebook now, task)."""
    out = create(serve, body)
    task = serve.wait_task(out["task"]["id"], timeout=180)
    code, nb = serve.http("GET", f"/notebooks/{out['notebook']['id']}")
    assert code == 200, nb
    return nb, task


def deleted(serve: Serve, ref: str) -> dict[str, Any]:
    code, out = serve.http("DELETE", f"/notebooks/{ref}")
    assert code == 202, out
    task = serve.wait_task(out["task"]["id"], timeout=120)
    assert task["status"] == "FINISHED", task
    code, nb = serve.http("GET", f"/notebooks/{out['notebook']['id']}")
    assert code == 200 and nb["status"] == "TERMINATED", nb
    return nb


def test_local_notebook_lifecycle(serve: Serve):
    types = serve.http("GET", "/notebook-instance-types")[1]["items"]
    assert [t["name"] for t in types] == ["local.notebook"]
    out = create(serve, {"name": "nb-one", "instance_type": "local.notebook"})
    nb, task = out["notebook"], out["task"]
    assert nb["status"] == "NEW" and nb["cluster"] is None
    assert task["kind"] == "notebook.create"
    assert [s["name"] for s in task["steps"]] == ["request-node", "node-running",
                                                 "readiness-probe"]
    done = serve.wait_task(task["id"], timeout=180)
    assert done["status"] == "FINISHED", done
    assert [s["state"] for s in done["steps"]] == ["done"] * 3, done["steps"]
    code, nb = serve.http("GET", "/notebooks/nb-one")
    assert code == 200 and nb["status"] == "RUNNING", nb
    assert nb["last_task"]["id"] == task["id"]
    listed = serve.http("GET", "/notebooks")[1]["items"]
    assert [n["id"] for n in listed] == [nb["id"]]

    # Its server answers over HTTP with the token from /connection, and not without it.
    code, conn = serve.http("GET", "/notebooks/nb-one/connection")
    assert code == 200, conn
    assert conn["token"] and conn["url"].endswith("/")
    assert get_status(conn["url"] + "api/status", conn["token"]) == 200
    assert get_status(conn["url"] + "api/status", None) == 403
    assert get_status(conn["url"] + "api/status", "wrong") == 403
    procs = notebook_processes(nb["id"])
    assert procs, "no process is tagged with the notebook"
    # Its environment is built, not inherited: no token on its command line either.
    import psutil

    server = psutil.Process(nb_pid(serve, nb["id"]))
    assert conn["token"] not in " ".join(server.cmdline())
    assert server.environ().get(TAG_NOTEBOOK) == nb["id"]
    assert "BODO_JUPYTER_TOKEN" in server.environ()  # the kernels' way to the API

    # A second notebook of the same name is refused while this one lives.
    code, err = serve.http("POST", "/notebooks", {"name": "nb-one",
                                                  "instance_type": "local.notebook"})
    assert code == 409 and err["error"]["field"] == "name", err

    gone = deleted(serve, "nb-one")
    assert gone["terminated_at"]
    wait_for(lambda: not notebook_processes(nb["id"]), 15, what="the notebook's processes")
    assert serve.http("GET", "/notebooks/nb-one/connection")[0] == 409
    assert serve.http("GET", "/notebooks")[1]["items"] == []
    assert [n["id"] for n in serve.http("GET", "/notebooks?all=true")[1]["items"]] == [nb["id"]]
    assert serve.http("DELETE", "/notebooks/nb-one")[0] == 409


def nb_pid(serve: Serve, notebook_id: str) -> int:
    """The pid of the notebook's server (the leader of its session with the tag)."""
    import psutil

    for rec in notebook_processes(notebook_id):
        p = psutil.Process(rec.pid)
        if any("jupyter" in part for part in p.cmdline()):
            return rec.pid
    raise AssertionError(f"no server process of notebook {notebook_id}")


def test_notebook_attached_to_a_cluster(serve: Serve):
    """The notebook holds its cluster (no job can take it); its kernels start attached,
    so %%px runs on the cluster's ranks in the first cell; deleting it lets go."""
    code, out = serve.http("POST", "/clusters", {"name": "nb-cluster",
                                                 "instance_type": "local.medium"})
    assert code == 202, out
    cluster = out["cluster"]
    assert serve.wait_task(out["task"]["id"], timeout=180)["status"] == "FINISHED"
    try:
        nb, task = started(serve, {"name": "nb-px", "instance_type": "local.notebook",
                                   "cluster": "nb-cluster"})
        assert task["status"] == "FINISHED", task
        assert [s["name"] for s in task["steps"]] == [
            "request-node", "node-running", "readiness-probe", "attach-cluster"]
        assert task["cluster_id"] == cluster["id"] and task["cluster_name"] == "nb-cluster"
        assert nb["status"] == "RUNNING" and nb["cluster"] == {"id": cluster["id"],
                                                               "name": "nb-cluster"}
        holder = serve.http("GET", "/clusters/nb-cluster")[1]["holder"]
        assert holder["kind"] == "notebook" and holder["id"] == nb["id"], holder
        assert "nb-px" in holder["label"]

        # A job cannot take it, the cluster cannot be deleted under it, and another
        # notebook cannot attach to it: each 409 names the holder.
        code, err = serve.http("POST", "/jobs", {
            "name": "grab", "cluster": "nb-cluster", "command": "x.py",
            "path": "https://github.com/acme/x"})
        assert code == 409 and "notebook 'nb-px'" in err["error"]["message"], err
        code, err = serve.http("DELETE", "/clusters/nb-cluster")
        assert code == 409 and "delete the notebook" in err["error"]["message"], err
        code, err = serve.http("POST", "/notebooks", {"name": "nb-two", "cluster": "nb-cluster",
                                                      "instance_type": "local.notebook"})
        assert code == 409 and err["error"]["field"] == "cluster", err
        assert "notebook 'nb-px'" in err["error"]["message"], err
        assert [n["name"] for n in serve.http("GET", "/notebooks")[1]["items"]] == ["nb-px"]

        # A kernel through the server's REST API and websocket: %%px in the first cell.
        conn = serve.http("GET", "/notebooks/nb-px/connection")[1]
        kernel = start_kernel(conn["url"], conn["token"])
        px, status = run_cells(
            conn["url"], conn["token"], kernel,
            "%%px\nfrom mpi4py import MPI\n"
            "print('rank', MPI.COMM_WORLD.rank, 'of', MPI.COMM_WORLD.size)",
            "%bodo status", timeout=120)
        assert px["error"] is None, px
        text = px["stdout"] + "".join(px["results"])
        for rank in range(2):
            assert f"rank {rank} of 2" in text, text
        assert "Attached to nb-cluster" in status["stdout"], status
        # The kernel is the notebook's: tagged, so teardown finds it.
        assert len(notebook_processes(nb["id"])) >= 2

        deleted(serve, "nb-px")
        wait_for(lambda: not notebook_processes(nb["id"]), 15, what="the notebook's processes")
        assert serve.http("GET", "/clusters/nb-cluster")[1]["holder"] is None
    finally:
        code, out = serve.http("DELETE", "/clusters/nb-cluster")
        if code == 202:
            serve.wait_task(out["task"]["id"], timeout=120)
