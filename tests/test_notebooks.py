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

        # The notebook server's bodo_jupyter extension runs no control plane of its own:
        # it forwards the API to this one (what the labextension will use).
        conn = serve.http("GET", "/notebooks/nb-px/connection")[1]
        code, page = http(conn["url"] + "bodo/api/v1", "GET", "/clusters", None,
                          conn["token"])
        assert code == 200 and [c["name"] for c in page["items"]] == ["nb-cluster"], page
        assert page["items"][0]["holder"]["id"] == nb["id"]
        assert http(conn["url"] + "bodo/api/v1", "GET", "/clusters", None, None)[0] == 403
        # A kernel through the server's REST API and websocket: %%px in the first cell.
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


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"instance_type": "local.notebook"}, 400, "name"),
    ({"name": "Bad_Name", "instance_type": "local.notebook"}, 400, "name"),
    ({"name": "x" * 64, "instance_type": "local.notebook"}, 400, "name"),
    ({"name": "ok"}, 400, "instance_type"),
    ({"name": "ok", "instance_type": "local.small"}, 400, "instance_type"),
    ({"name": "ok", "instance_type": "no.such.type"}, 400, "instance_type"),
    ({"name": "ok", "instance_type": "local.notebook", "cluster": "nope"}, 400, "cluster"),
    ({"name": "ok", "instance_type": "local.notebook", "cluster": "c-0123456789ab"}, 400,
     "cluster"),
    ({"name": "ok", "instance_type": "local.notebook", "colour": "red"}, 400, "colour"),
    ({"name": "ok", "instance_type": "local.notebook", "server_env": {"PATH": "/x"}}, 400,
     "server_env.PATH"),
    ({"name": "ok", "instance_type": "local.notebook",
      "server_env": {"JUPYTERHUB_x": "1"}}, 400, "server_env.JUPYTERHUB_x"),
    ({"name": "ok", "instance_type": "local.notebook",
      "server_env": {"JUPYTERHUB_API_TOKEN": 5}}, 400, "server_env.JUPYTERHUB_API_TOKEN"),
    ({"name": "ok", "instance_type": "local.notebook",
      "server_env": {"JPY_A": "x" * 5000}}, 400, "server_env.JPY_A"),
    ({"name": "ok", "instance_type": "local.notebook",
      "server_env": {f"JPY_V{i}": "1" for i in range(101)}}, 400, "server_env"),
])
def test_create_rejects_bad_input(serve: Serve, body: dict[str, Any], status: int,
                                  field: str):
    """Each mistake is refused naming the field, and nothing is written."""
    def written() -> tuple[list[str], list[str]]:
        notebooks = serve.http("GET", "/notebooks?all=true&limit=500")[1]["items"]
        tasks = serve.http("GET", "/tasks?limit=500")[1]["items"]
        return [n["id"] for n in notebooks], [t["id"] for t in tasks]

    before = written()
    code, err = serve.http("POST", "/notebooks", body)
    assert code == status and err["error"]["field"] == field, err
    assert written() == before


class FakeHubAPI:
    """Just enough of a hub's API for a single-user server to start: its version."""

    def __init__(self) -> None:
        import http.server
        import threading

        import jupyterhub

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"version": jupyterhub.__version__}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-JupyterHub-Version", jupyterhub.__version__)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_server_env_is_never_shown(serve: Serve):
    """The hub's environment for the server (its API token) is stored encrypted and
    appears in no answer, event, list or log; with it the server is a JupyterHub
    single-user server under the hub's prefix, and /connection has no token (the hub
    authenticates)."""
    hub = FakeHubAPI()
    env = {"JUPYTERHUB_API_TOKEN": HUB_TOKEN, "JUPYTERHUB_USER": "ann",
           "JUPYTERHUB_API_URL": hub.url,
           "JUPYTERHUB_SERVICE_PREFIX": "/user/ann/nb-hub/", "JUPYTERHUB_BASE_URL": "/",
           "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-ann-nb-hub",
           "JUPYTERHUB_OAUTH_CALLBACK_URL": "/user/ann/nb-hub/oauth_callback"}
    out = create(serve, {"name": "nb-hub", "instance_type": "local.notebook",
                         "server_env": env})
    answers = [out]
    task = serve.wait_task(out["task"]["id"], timeout=180)
    answers += [task, serve.http("GET", f"/tasks/{task['id']}?since=0")[1],
                serve.http("GET", "/tasks?limit=500")[1],
                serve.http("GET", "/notebooks/nb-hub")[1],
                serve.http("GET", "/notebooks?all=true")[1]]
    code, conn = serve.http("GET", "/notebooks/nb-hub/connection")
    answers.append(conn)
    hub.close()
    assert task["status"] == "FINISHED", task
    assert code == 200 and conn["token"] is None, conn  # the hub authenticates
    assert conn["url"].endswith("/user/ann/nb-hub/"), conn
    import psutil

    server = psutil.Process(nb_pid(serve, out["notebook"]["id"]))
    assert "jupyterhub.singleuser" in server.cmdline()
    # The kernels reach the API with the server's own hub token.
    assert server.environ()["BODO_JUPYTER_TOKEN"] == HUB_TOKEN
    answers.append(deleted(serve, "nb-hub"))
    for a in answers:
        assert HUB_TOKEN not in json.dumps(a), a
    logs = [serve.log, *serve.data_dir.rglob("*.log")]
    for log in logs:
        assert HUB_TOKEN not in log.read_text(errors="replace"), log
    db = (serve.data_dir / "bodo-jupyter.sqlite").read_bytes()
    for path in serve.data_dir.glob("bodo-jupyter.sqlite*"):
        db += path.read_bytes()
    assert HUB_TOKEN.encode() not in db


def test_cluster_checks_of_create(tmp_path):
    """Another organisation's cluster is refused exactly like one that does not exist
    (400 on cluster, never revealed); a held cluster is a 409 naming its holder; a
    cluster that is not RUNNING a 409 saying so. Nothing is written by any of them."""
    import asyncio

    from bodo_jupyter.contract.models import CreateNotebookRequest
    from bodo_jupyter.platform.clusters.leases import Holder
    from bodo_jupyter.platform.errors import PlatformError
    from bodo_jupyter.platform.models import (
        Cluster,
        ClusterLease,
        ClusterStatus,
        Notebook,
        Task,
    )
    from bodo_jupyter.platform.service import ControlPlane

    from .helpers import track

    plane = track(ControlPlane(data_dir=str(tmp_path)))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(plane.start())
    try:
        ann = plane.ensure_user("ann", "acme")
        bob = plane.ensure_user("bob", "globex")

        def cluster(who: Any, name: str, status: ClusterStatus) -> str:
            with plane.store.session() as s:
                c = Cluster(org_id=who.org_id, name=name, provider="local",
                            instance_type="local.small", instances=1, cores_per_instance=1,
                            created_by=who.user_id, status=status)
                s.add(c)
                s.flush()
                return c.id

        theirs = cluster(bob, "theirs", ClusterStatus.RUNNING)
        held = cluster(ann, "held", ClusterStatus.RUNNING)
        cluster(ann, "starting", ClusterStatus.INPROGRESS)
        with plane.store.session() as s:
            plane.leases.take(s, ann.org_id, held, "held",
                              Holder("job_run", "r-0123456789ab", "job 'etl' (run r-0123)"))

        def refused(ref: str) -> PlatformError:
            req = CreateNotebookRequest.parse({"name": "nb", "instance_type": "local.notebook",
                                               "cluster": ref})
            with pytest.raises(PlatformError) as e:
                loop.run_until_complete(plane.notebooks.create(ann, req))
            return e.value

        unknown, other, by_id = refused("nope"), refused("theirs"), refused(theirs)
        for e in (unknown, other, by_id):
            assert (e.status, e.field) == (400, "cluster"), e.message
            assert "theirs" not in e.message or e is other
        assert other.message == unknown.message.replace("'nope'", "'theirs'")
        e = refused("held")
        assert (e.status, e.field) == (409, "cluster") and "job 'etl'" in e.message, e.message
        assert "cancel the run" in e.message
        e = refused("starting")
        assert (e.status, e.field) == (409, "cluster") and "not RUNNING" in e.message
        with plane.store.session() as s:
            assert s.query(Notebook).count() == 0
            assert s.query(Task).count() == 0
            assert s.query(ClusterLease).count() == 1  # the run's, untouched
        # The other organisation sees no notebook of ann's, by id or name.
        with plane.store.session() as s:
            n = Notebook(org_id=ann.org_id, name="anns", provider="local",
                         instance_type="local.notebook", created_by=ann.user_id)
            s.add(n)
            s.flush()
            nb_id = n.id
        assert plane.notebooks.get(ann, "anns")["id"] == nb_id
        for ref in (nb_id, "anns"):
            for op in (lambda r: plane.notebooks.get(bob, r),
                       lambda r: plane.notebooks.connection(bob, r),
                       lambda r: loop.run_until_complete(plane.notebooks.delete(bob, r))):
                with pytest.raises(PlatformError) as e:
                    op(ref)
                assert e.value.status == 404
        assert plane.notebooks.list(bob)["items"] == []
        assert [n["id"] for n in plane.notebooks.list(ann)["items"]] == [nb_id]
    finally:
        loop.run_until_complete(plane.stop())
        loop.close()


def hold_servers(data_dir: Any, gates: Any) -> Any:
    """Make notebook servers wait for a file before they start (the "gate"), so that a
    create stays in its readiness probe until the test makes the file."""
    import shlex
    import sys

    gate = gates / "servers-may-start"
    python = gates / "python-held-nb"
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-m\\ jupyterlab*)\n'
        f"  while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.05; done;;\n"
        "esac\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    (data_dir / "bodo_jupyter_config.py").write_text(
        f"c.LocalProvider.python = {str(python)!r}\n"
        "c.ControlPlane.health_check_interval = 0.3\n")
    return gate


def server_started(s: Serve, task_id: str) -> bool:
    _, task = s.http("GET", f"/tasks/{task_id}")
    return task["status"] == "INPROGRESS" and any(
        e["step"] == "node-running" and e["state"] == "done" for e in task["events"])


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_restart_keeps_running_notebooks_and_resumes_a_create(tmp_path, gate_dir, how):
    import psutil

    gate = hold_servers(tmp_path, gate_dir)
    gate.touch()
    s = Serve(tmp_path).start()
    try:
        steady, task = started(s, {"name": "steady", "instance_type": "local.notebook"})
        assert steady["status"] == "RUNNING", task
        steady_pid = nb_pid(s, steady["id"])
        gate.unlink()
        out = create(s, {"name": "interrupted", "instance_type": "local.notebook"})
        nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
        wait_for(lambda: server_started(s, task_id), 60, what="the server to be started")
        before = {r.pid for r in notebook_processes(nb_id)}
        assert before
        s.stop(how)  # SIGKILL: a crash; SIGTERM: an orderly stop, the task stays open

        # The servers outlive the control plane (sessions of their own)...
        assert psutil.pid_exists(steady_pid)
        s.start()
        gate.touch()
        # ...the running one is found RUNNING again (health checks pass), and the
        # interrupted create resumes from a clean node instead of adding a server.
        task = s.wait_task(task_id, timeout=180)
        assert task["status"] == "FINISHED", task
        assert task["attempts"] == 2
        assert any("restarted during this task" in e["message"] for e in task["events"])
        wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status()
                                 != psutil.STATUS_ZOMBIE for p in before), 15,
                 what="the interrupted attempt's server to be gone")
        import time

        time.sleep(1.0)  # a few health checks
        for name in ("steady", "interrupted"):
            nb = s.http("GET", f"/notebooks/{name}")[1]
            assert nb["status"] == "RUNNING", nb
            conn = s.http("GET", f"/notebooks/{name}/connection")[1]
            assert get_status(conn["url"] + "api/status", conn["token"]) == 200
        assert nb_pid(s, steady["id"]) == steady_pid
        for name in ("steady", "interrupted"):
            deleted(s, name)
    finally:
        try:
            s.clean_up()
        finally:
            s.stop()
    assert_no_cluster_processes(s.plane_id)


def test_health_check_readiness_timeout_and_no_platform_secret(tmp_path, gate_dir):
    """The server's environment holds none of the control plane's secrets; the health
    loop marks a RUNNING notebook whose server died FAILED, with the end of its log; a
    server that never answers fails the create after LocalNotebooks.ready_timeout,
    leaving nothing running."""
    from bodo_jupyter.platform.user_env import secrets_in

    from .test_no_platform_secret import PLATFORM_SECRETS

    gate = hold_servers(tmp_path, gate_dir)
    gate.touch()
    s = Serve(tmp_path, env=PLATFORM_SECRETS).start()
    try:
        nb, task = started(s, {"name": "fragile", "instance_type": "local.notebook"})
        assert nb["status"] == "RUNNING", task
        import psutil

        for rec in notebook_processes(nb["id"]):
            env = psutil.Process(rec.pid).environ()
            assert not secrets_in(env, PLATFORM_SECRETS.values()), secrets_in(
                env, PLATFORM_SECRETS.values())
        os.kill(nb_pid(s, nb["id"]), signal.SIGKILL)
        failed = wait_for(lambda: (lambda n: n if n["status"] == "FAILED" else None)(
            s.http("GET", "/notebooks/fragile")[1]), 15, what="the notebook to fail")
        assert "server exited" in failed["status_message"], failed
        deleted(s, "fragile")

        s.stop()  # again with a short probe (a busy machine may take seconds to start one)
        with open(tmp_path / "bodo_jupyter_config.py", "a") as f:
            f.write("c.LocalNotebooks.ready_timeout = 1.5\n")
        s.start()
        gate.unlink()
        nb, task = started(s, {"name": "mute", "instance_type": "local.notebook"})
        assert task["status"] == "FAILED" and nb["status"] == "FAILED", task
        assert "did not answer" in task["error"] and "within 1.5s" in task["error"], task
        assert [st["state"] for st in task["steps"]] == ["done", "done", "failed"]
        wait_for(lambda: not notebook_processes(nb["id"]), 15, what="the mute server")
        deleted(s, "mute")
    finally:
        gate.touch()
        try:
            s.clean_up()
        finally:
            s.stop()
    assert_no_cluster_processes(s.plane_id)


def test_sdk_and_cli(serve: Serve):
    """The SDK (async and blocking) and `bodo-jupyter notebook ...` drive the same
    notebooks: create with progress, list, show, open (the URL with its token), delete."""
    import asyncio

    from bodo_jupyter.sdk import AsyncPlatform, Platform

    async def with_async() -> None:
        async with AsyncPlatform(serve.url, serve.token) as p:
            types = await p.notebooks.instance_types()
            assert [t.name for t in types] == ["local.notebook"]
            nb = await p.notebooks.create("sdk-nb", "local.notebook", wait=True)
            assert nb.status == "RUNNING" and nb.task.status == "FINISHED"
            url = await nb.url()
            assert "/lab?token=" in url
            assert [n.name for n in await p.notebooks.list()] == ["sdk-nb"]
            await nb.delete(wait=True)
            assert nb.status == "TERMINATED"

    asyncio.run(with_async())
    with Platform(serve.url, serve.token) as p:
        nb = p.notebooks.create("sync-nb", "local.notebook")
        assert nb.wait(timeout=120).status == "RUNNING"
        assert p.notebooks.get("sync-nb").connection().token
        p.notebooks.delete("sync-nb", wait=True)
        assert p.notebooks.get("sync-nb").status == "TERMINATED"

    r = serve.cli("notebook", "create", "cli-nb", "-t", "local.notebook", "--wait")
    assert r.returncode == 0, r.stderr
    assert "readiness-probe" in r.stdout + r.stderr or "RUNNING" in r.stdout, r.stdout
    assert "Notebook cli-nb is RUNNING" in r.stdout, r.stdout
    r = serve.cli("notebook", "list")
    assert r.returncode == 0 and "cli-nb" in r.stdout and "RUNNING" in r.stdout, r
    r = serve.cli("notebook", "show", "cli-nb", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "RUNNING", r
    r = serve.cli("notebook", "open", "cli-nb", "--no-browser")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert "/lab?token=" in url
    base, token = url.split("lab?token=")
    assert get_status(base + "api/status", token) == 200
    r = serve.cli("notebook", "create", "Bad!", "-t", "local.notebook")
    assert r.returncode != 0 and "NAME" in r.stderr, r.stderr
    r = serve.cli("notebook", "create", "cli-two", "-t", "local.notebook", "-c", "nope")
    assert r.returncode == 1 and "--cluster" in r.stderr, r.stderr
    r = serve.cli("notebook", "delete", "cli-nb", "--wait")
    assert r.returncode == 0 and "Notebook cli-nb deleted" in r.stdout, (r.stdout, r.stderr)
    r = serve.cli("notebook", "open", "cli-nb", "--no-browser")
    assert r.returncode == 1 and "not RUNNING" in r.stderr, r.stderr


def test_cancel_and_delete_during_create(tmp_path, gate_dir):
    """Cancelling a create stops its server and lets go of the cluster (TERMINATED,
    "Creation cancelled"); deleting a notebook whose create still runs cancels the
    create first, then ends TERMINATED. Nothing is left running."""
    gate = hold_servers(tmp_path, gate_dir)  # servers wait: creates stay in their probe
    s = Serve(tmp_path).start()
    try:
        code, out = s.http("POST", "/clusters", {"name": "held-c",
                                                 "instance_type": "local.small"})
        assert code == 202 and s.wait_task(out["task"]["id"])["status"] == "FINISHED"
        out = create(s, {"name": "to-cancel", "instance_type": "local.notebook",
                         "cluster": "held-c"})
        nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
        assert s.http("GET", "/clusters/held-c")[1]["holder"]["id"] == nb_id
        wait_for(lambda: server_started(s, task_id), 60, what="the server to be started")
        assert notebook_processes(nb_id)
        code, _ = s.http("POST", f"/tasks/{task_id}/cancel", {})
        assert code == 202
        task = s.wait_task(task_id)
        assert task["status"] == "CANCELLED", task
        nb = s.http("GET", f"/notebooks/{nb_id}")[1]
        assert nb["status"] == "TERMINATED" and nb["status_message"] == "Creation cancelled"
        assert s.http("GET", "/clusters/held-c")[1]["holder"] is None
        wait_for(lambda: not notebook_processes(nb_id), 15, what="the cancelled server")

        out = create(s, {"name": "to-delete", "instance_type": "local.notebook",
                         "cluster": "held-c"})
        nb_id, task_id = out["notebook"]["id"], out["task"]["id"]
        wait_for(lambda: server_started(s, task_id), 60, what="the server to be started")
        gone = deleted(s, "to-delete")
        assert gone["id"] == nb_id
        assert s.http("GET", f"/tasks/{task_id}")[1]["status"] == "CANCELLED"
        assert s.http("GET", "/clusters/held-c")[1]["holder"] is None
        wait_for(lambda: not notebook_processes(nb_id), 15, what="the deleted server")
        # The name is free again, and the cluster can be deleted.
        code, out = s.http("DELETE", "/clusters/held-c")
        assert code == 202 and s.wait_task(out["task"]["id"])["status"] == "FINISHED"
    finally:
        gate.touch()
        try:
            s.clean_up()
        finally:
            s.stop()
    assert_no_cluster_processes(s.plane_id)


def test_restart_during_delete_resumes_it(tmp_path, gate_dir):
    """The control plane dies while a delete stops the server (a server slow to stop:
    its session's leader ignores SIGTERM); after the restart the delete resumes, stops
    everything and ends TERMINATED."""
    import shlex
    import sys

    python = gate_dir / "python-slow-stop"
    python.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-m\\ jupyterlab*)\n'
        "  trap '' TERM\n"
        f'  {shlex.quote(sys.executable)} "$@"\n'
        "  exit $?;;\n"
        "esac\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    (tmp_path / "bodo_jupyter_config.py").write_text(
        f"c.LocalProvider.python = {str(python)!r}\n"
        "c.LocalProvider.stop_timeout = 16.0\n")
    s = Serve(tmp_path).start()
    try:
        nb, task = started(s, {"name": "slow-stop", "instance_type": "local.notebook"})
        assert nb["status"] == "RUNNING", task
        code, out = s.http("DELETE", "/notebooks/slow-stop")
        assert code == 202
        task_id = out["task"]["id"]

        def stopping() -> bool:
            t = s.http("GET", f"/tasks/{task_id}")[1]
            return any(e["step"] == "stop-node" and e["state"] == "started"
                       for e in t["events"])

        wait_for(stopping, 30, what="the delete to stop the server")
        s.kill()
        assert notebook_processes(nb["id"]), "the server should still be stopping"
        s.start()
        task = s.wait_task(task_id, timeout=120)
        assert task["status"] == "FINISHED" and task["attempts"] == 2, task
        assert s.http("GET", "/notebooks/slow-stop")[1]["status"] == "TERMINATED"
        wait_for(lambda: not notebook_processes(nb["id"]), 15, what="the server to be gone")
    finally:
        try:
            s.clean_up()
        finally:
            s.stop()
    assert_no_cluster_processes(s.plane_id)
