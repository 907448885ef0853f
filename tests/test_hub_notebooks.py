"""The hub's named servers are the organisation's notebooks (BodoSpawner).

A real hub with the platform as its service and BodoSpawner: a server started through
the hub API with options (instance type, cluster) is a platform notebook; the spawn
progress stream shows the create task's steps; the server is reached through the proxy
with the user's token and a kernel runs %%px on the cluster's ranks in its first cell;
stopping it frees the node and the cluster's lease. Bad options are refused with a
message and nothing made.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from bodo_jupyter.contract.hub_groups import org_groups
from tests.helpers import wait_for
from tests.hub import (
    Hub,
    platform,
    progress_events,
    service_config,
    user_token,
    wait_for_service,
    wait_task,
)
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
# A hub restart leaves servers running (the restart test), as production hubs do.
c.JupyterHub.cleanup_servers = False
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

            # A second notebook cannot take the held cluster: the spawn fails naming
            # the holder, and nothing is made.
            with hub.api() as admin:
                r = admin.post("/users/ada/servers/two", json={
                    "instance_type": "local.notebook", "cluster": "px"})
                assert r.status_code in (201, 202), r.text
                failed = progress_events(hub, "ada", "two")[-1]
                assert failed.get("failed") and "ada-work" in failed["message"], failed
                wait_for(lambda: not admin.get("/users/ada").json()["servers"].get("two"), 30,
                         what="the failed server to go")
            assert [n["name"] for n in api.get("/notebooks").json()["items"]] == ["ada-work"]

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


def test_a_restarted_hub_finds_its_running_notebook_and_stops_it(hub: Hub) -> None:
    """The spawner's state is the notebook's id; after a restart (hub and service), poll
    reads the notebook, the server kept running, and stop still works (the spawner makes
    a token of its own)."""
    with hub.api() as admin:
        r = admin.post("/users/ada/servers/keep", json={"instance_type": "local.notebook"})
        assert r.status_code in (201, 202), r.text
    assert progress_events(hub, "ada", "keep")[-1].get("ready")
    tok = user_token(hub, "ada", ["access:servers!user"])
    status = f"{hub.url}/user/ada/keep/api/status"
    started = httpx.get(status, headers={"Authorization": f"token {tok}"}).json()["started"]

    hub.restart(keep_user_work=True)
    wait_for_service(hub)
    with hub.api() as admin:
        server = admin.get("/users/ada").json()["servers"]["keep"]
        assert server["ready"], server
    # The same server process (not a new one), reached through the proxy again.
    tok = user_token(hub, "ada", ["access:servers!user"])
    r = wait_for(lambda: (x := httpx.get(status, headers={"Authorization": f"token {tok}"}))
                 .status_code == 200 and x, 60, what="the server through the new proxy")
    assert r.json()["started"] == started
    with hub.api() as admin:
        assert admin.delete("/users/ada/servers/keep").status_code in (202, 204)
        wait_for(lambda: "keep" not in admin.get("/users/ada").json()["servers"], 60,
                 what="the server to stop")
    with platform(hub, "ada") as api:
        assert api.get("/notebooks/ada-keep").json()["status"] == "TERMINATED"
