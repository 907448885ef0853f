"""EC2 notebooks through the hub: BodoSpawner on the AWS provider, against the emulator.

A real hub with the platform service using the AWS emulator (moto's server with the
plugin that boots notebook nodes' real user-data in network namespaces): a named server
with an EC2 instance type, attached to an AWS cluster, boots, answers through the hub's
proxy at the node's private address, survives a hub restart in the middle (found again
by the spawner's state), and stops with nothing left in the emulator.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import httpx
import pytest

from bodo_jupyter.contract.hub_groups import org_groups
from tests.aws import REGION, aws_emulator, leftovers, notebook_leftovers
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
from tests.net import free_port
from tests.test_aws_notebooks import ACCOUNT, plane_config

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0,
                                 reason="notebook nodes boot in network namespaces (root)")]

CONFIG = """
c.JupyterHub.authenticator_class = "null"
c.JupyterHub.spawner_class = "bodo"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = False
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
"""


def test_an_ec2_notebook_spawned_by_the_hub_survives_a_hub_restart(tmp_path) -> None:
    with aws_emulator(tmp_path) as em:
        data = tmp_path / "plane"
        data.mkdir()
        plane_config(data, em)
        hub = Hub(tmp_path / "hub", CONFIG + service_config(
            port=free_port(), data=data, plane_config=data / "bodo_jupyter_config.py",
            environment=em.control_plane_env()))
        hub.start()
        try:
            wait_for_service(hub)
            with hub.api() as admin:
                admin.post("/users/ada").raise_for_status()
                group = quote(org_groups("acme", admin=False)[0], safe="")
                admin.post(f"/groups/{group}", json={"users": ["ada"]}).raise_for_status()
            api = platform(hub, "ada")
            r = api.put("/aws/credentials", json={
                "access_key_id": em.user.access_key_id,
                "secret_access_key": em.user.secret_access_key, "account_id": ACCOUNT,
                "region": REGION})
            assert r.status_code == 202, r.text
            assert wait_task(api, r.json()["task_id"])["status"] == "FINISHED"
            r = api.post("/clusters", json={"name": "nb-host", "provider": "aws",
                                            "instance_type": "c5.large", "instances": 1})
            assert r.status_code == 202, r.text
            assert wait_task(api, r.json()["task"]["id"])["status"] == "FINISHED"

            with hub.api() as admin:
                r = admin.post("/users/ada/servers/ec2", json={
                    "instance_type": "t3.medium", "cluster": "nb-host"})
                assert r.status_code in (201, 202), r.text
            events = progress_events(hub, "ada", "ec2")
            assert events[-1].get("ready"), events
            nb = api.get("/notebooks/ada-ec2").json()
            assert nb["status"] == "RUNNING" and nb["provider"] == "aws", nb
            tok = user_token(hub, "ada", ["access:servers!user"])
            status = f"{hub.url}/user/ada/ec2/api/status"
            auth = {"Authorization": f"token {tok}"}
            r = httpx.get(status, headers=auth, timeout=30)
            assert r.status_code == 200, r.text
            started = r.json()["started"]
            # The node's server forwards the platform's API as the user.
            me = httpx.get(f"{hub.url}/user/ada/ec2/bodo/api/v1/", headers=auth, timeout=30)
            assert me.status_code == 200 and me.json()["user"]["name"] == "ada", me.text

            hub.restart(keep_user_work=True)
            wait_for_service(hub)
            with hub.api() as admin:
                assert admin.get("/users/ada").json()["servers"]["ec2"]["ready"]
            tok = user_token(hub, "ada", ["access:servers!user"])
            r = wait_for(lambda: (x := httpx.get(status, timeout=30, headers={
                "Authorization": f"token {tok}"})).status_code == 200 and x, 60,
                what="the node through the new proxy")
            assert r.json()["started"] == started

            with hub.api() as admin:
                assert admin.delete("/users/ada/servers/ec2").status_code in (202, 204)
                wait_for(lambda: "ec2" not in admin.get("/users/ada").json()["servers"],
                         120, what="the server to stop")
            api = platform(hub, "ada")
            assert api.get("/notebooks/ada-ec2").json()["status"] == "TERMINATED"
            assert notebook_leftovers(em) == {}
            r = api.delete("/clusters/nb-host")
            assert wait_task(api, r.json()["task"]["id"])["status"] == "FINISHED"
        finally:
            hub.stop()
        assert leftovers(em) == {}
