"""The hub's named servers are the organisation's notebooks (BodoSpawner).

A real hub with the platform as its service and BodoSpawner: a server started through
the hub API with options (instance type, cluster) is a platform notebook; the spawn
progress stream shows the create task's steps; the server is reached through the proxy
with the user's token and a kernel runs %%px on the cluster's ranks in its first cell;
stopping it frees the node and the cluster's lease. Bad options are refused with a
message and nothing made.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from bodo_jupyter.contract.hub_groups import org_groups
from tests.helpers import wait_for
from tests.hub import Hub, service_config, user_token, wait_for_service
from tests.jupyter import run_cells, start_kernel
from tests.net import free_port

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]

CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "pw"
c.Authenticator.allowed_users = {"ada", "bob"}
c.JupyterHub.spawner_class = "bodo"
c.JupyterHub.allow_named_servers = True
c.BodoSpawner.default_instance_type = "local.notebook"
# Answer spawn requests at once (202), so the progress stream is read from its start.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hubnb")
    h = Hub(root / "hub", CONFIG + service_config(port=free_port(), data=root / "plane"))
    h.start()
    try:
        wait_for_service(h)
        with h.api() as api:
            for org, user in (("acme", "ada"), ("globex", "bob")):
                group = quote(org_groups(org, admin=False)[0], safe="")
                api.post(f"/groups/{group}", json={"users": [user]}).raise_for_status()
        yield h
    finally:
        h.stop()


def platform(hub: Hub, user: str) -> httpx.Client:
    return httpx.Client(base_url=hub.url + "/services/bodo/api/v1", timeout=60,
                        headers={"Authorization": f"token {user_token(hub, user)}"})


def wait_task(api: httpx.Client, task_id: str, timeout: float = 180) -> dict:
    return wait_for(lambda: (t := api.get(f"/tasks/{task_id}", params={"wait": 10}).json())
                    ["status"] in ("FINISHED", "FAILED", "CANCELLED") and t,
                    timeout, what=f"task {task_id}")


def progress_events(hub: Hub, user: str, server: str) -> list[dict]:
    """The hub's spawn progress stream (server-sent events) until it says ready/failed."""
    events = []
    tok = user_token(hub, user, ["read:servers!user", "access:servers!user"])
    with httpx.stream("GET", f"{hub.url}/hub/api/users/{user}/servers/{server}/progress",
                      headers={"Authorization": f"token {tok}"}, timeout=300) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data:"):
                ev = json.loads(line[5:])
                events.append(ev)
                if ev.get("ready") or ev.get("failed"):
                    break
    return events


def test_a_named_server_is_a_notebook_attached_to_a_cluster(hub: Hub) -> None:
    with platform(hub, "ada") as api:
        r = api.post("/clusters", json={"name": "px", "instance_type": "local.medium"})
        assert r.status_code == 202, r.text
        assert wait_task(api, r.json()["task"]["id"])["status"] == "FINISHED"
        try:
            with hub.api() as admin:
                r = admin.post("/users/ada/servers/work", json={
                    "instance_type": "local.notebook", "cluster": "px"})
                assert r.status_code in (201, 202), r.text
            events = progress_events(hub, "ada", "work")
            assert events[-1].get("ready"), events
            messages = " | ".join(e.get("message", "") for e in events)
            for step in ("request-node", "node-running", "readiness-probe", "attach-cluster"):
                assert step in messages, messages
            assert [e["progress"] for e in events] == sorted(e["progress"] for e in events)

            # The notebook is the platform's: listed, holding the cluster.
            nb = api.get("/notebooks/ada-work").json()
            assert nb["status"] == "RUNNING" and nb["cluster"]["name"] == "px", nb
            assert api.get("/clusters/px").json()["holder"]["id"] == nb["id"]

            # Through the proxy, with the user's token: a kernel runs %%px at once.
            base = f"{hub.url}/user/ada/work/"
            tok = user_token(hub, "ada", ["access:servers!user"])
            assert httpx.get(base + "api/status",
                             headers={"Authorization": f"token {tok}"}).status_code == 200
            assert httpx.get(base + "api/status").status_code in (302, 403)
            kernel = start_kernel(base, tok)
            px, = run_cells(base, tok, kernel,
                            "%%px\nfrom mpi4py import MPI\nprint('rank', MPI.COMM_WORLD.rank)",
                            timeout=120)
            assert px["error"] is None, px
            text = px["stdout"] + "".join(px["results"])
            assert "rank 0" in text and "rank 1" in text, text
            # The server forwards the platform's API with the user's credentials.
            me = httpx.get(base + "bodo/api/v1/", headers={"Authorization": f"token {tok}"})
            assert me.status_code == 200 and me.json()["organization"]["name"] == "acme", me.text

            # Another organisation sees none of it.
            with platform(hub, "bob") as bob:
                assert bob.get("/notebooks").json()["items"] == []
            assert httpx.get(base + "api/status", headers={
                "Authorization": f"token {user_token(hub, 'bob', ['access:servers!user'])}"}
            ).status_code == 403

            # Stopped through the hub: node and lease freed.
            with hub.api() as admin:
                r = admin.delete("/users/ada/servers/work")
                assert r.status_code in (202, 204), r.text
            wait_for(lambda: api.get("/notebooks/ada-work").status_code == 404
                     or api.get("/notebooks/ada-work").json()["status"] == "TERMINATED",
                     120, what="the notebook to end")
            wait_for(lambda: api.get("/clusters/px").json()["holder"] is None, 60,
                     what="the lease to go")
        finally:
            r = api.delete("/clusters/px")
            if r.status_code == 202:
                wait_task(api, r.json()["task"]["id"])


def test_bad_options_are_refused_with_a_message_and_nothing_made(hub: Hub) -> None:
    with platform(hub, "bob") as api, hub.api() as admin:
        for options, words in (
                ({"instance_type": "local.notebook", "cluster": "px"}, "cluster"),
                ({"instance_type": "no.such"}, "instance"),
                ({"instance_type": "local.notebook", "colour": "red"}, "colour")):
            r = admin.post("/users/bob/servers/bad", json=options)
            if r.status_code in (201, 202):
                events = progress_events(hub, "bob", "bad")
                assert events[-1].get("failed"), events
                text = events[-1].get("message", "")
            else:
                text = r.text
            assert words in text.lower(), (options, text)
            assert "Traceback" not in text
            wait_for(lambda: not admin.get("/users/bob").json()["servers"].get("bad"), 30,
                     what="the failed server to go")
        assert api.get("/notebooks").json()["items"] == []


def test_the_options_page_offers_the_forms_fields(hub: Hub) -> None:
    browser = hub.login("ada", "pw")
    try:
        r = browser.get("/hub/spawn/ada/page")
    finally:
        browser.close()
    assert r.status_code == 200, r.text
    for field in ("name", "instance_type", "cluster"):
        assert f'name="{field}"' in r.text, r.text
    assert "local.notebook" in r.text
