"""The control plane as a JupyterHub-managed service (``/services/bodo/``).

A real hub starts ``bodo-jupyter serve``; users reach the API with hub tokens (as the SDK
and kernels do) and the platform's page with the hub's OAuth (as a browser does). Their
hub groups name their organisation, and nobody reaches another organisation's objects on
any route of the API.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from traitlets.config import Config

from bodo_jupyter.contract import SPEC_PATH
from bodo_jupyter.contract.hub_groups import org_groups
from bodo_jupyter.platform.models import (
    Cluster,
    ClusterStatus,
    Job,
    JobRun,
    JobRunStatus,
    Notebook,
    NotebookStatus,
    Task,
    TaskStatus,
)
from bodo_jupyter.platform.service import ControlPlane
from tests.git_server import GitServer
from tests.helpers import track, wait_for
from tests.hub import Hub, service_config, user_token, wait_for_service
from tests.net import free_port

pytestmark = pytest.mark.timeout(240)

SERVICE = "/services/bodo"
GIT_TOKEN = "s3cret-git-token"
API = SERVICE + "/api/v1"

CONFIG = """
from jupyterhub.auth import DummyAuthenticator
from bodo_jupyter.contract.hub_groups import org_groups

class OrgFromName(DummyAuthenticator):
    '''Tests only: any password "pw"; ada-acme is in organisation acme.'''
    manage_groups = True
    async def authenticate(self, handler, data):
        user = await super().authenticate(handler, data)
        if user is None:
            return None
        name = user if isinstance(user, str) else user["name"]
        return {"name": name, "groups": org_groups(name.split("-")[-1], admin=False)}

c.JupyterHub.authenticator_class = OrgFromName
c.DummyAuthenticator.password = "pw"
c.Authenticator.allow_all = True
"""


def seed(data: Path) -> dict[str, str]:
    """Organisation acme's objects, written before the service starts: a cluster, its
    task, a job and a run (the routes' ids and names to try as another organisation)."""

    async def main() -> dict[str, str]:
        config = Config()
        config.ControlPlane.single_user = False
        plane = track(ControlPlane(data_dir=str(data), config=config))
        await plane.start()
        try:
            ada = plane.ensure_user("ada-acme", "acme")
            with plane.store.session() as s:
                c = Cluster(org_id=ada.org_id, name="acme-c", provider="local",
                            instance_type="local.small", instances=1, cores_per_instance=1,
                            created_by=ada.user_id, status=ClusterStatus.FAILED)
                s.add(c)
                s.flush()
                t = Task(org_id=ada.org_id, user_id=ada.user_id, kind="cluster.create",
                         cluster_id=c.id, status=TaskStatus.FAILED, steps=[])
                j = Job(org_id=ada.org_id, name="acme-j", created_by=ada.user_id,
                        schedule_type="cron", cron="0 0 1 1 *", active=False,
                        command="a.py", argv=["a.py"], source_type="git",
                        path="https://git.example.com/a")
                s.add_all([t, j])
                s.flush()
                r = JobRun(job_id=j.id, org_id=ada.org_id, trigger="manual",
                           status=JobRunStatus.FINISHED)
                n = Notebook(org_id=ada.org_id, name="acme-n", provider="local",
                             instance_type="local.notebook", created_by=ada.user_id,
                             status=NotebookStatus.FAILED)
                s.add_all([r, n])
                s.flush()
                return {"cluster": c.id, "cluster_name": c.name, "task": t.id,
                        "job": j.id, "job_name": j.name, "run": r.id,
                        "notebook": n.id, "notebook_name": n.name}
        finally:
            await plane.stop()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hubsvc")
    data = root / "plane"
    refs = seed(data)
    git = GitServer(root / "git", "ada", GIT_TOKEN).start()
    refs["repo"] = git.create_repo("ada", "etl", {"main": {
        "hello.py": "from mpi4py import MPI\nprint('hello from', MPI.COMM_WORLD.rank)\n"}})
    plane_config = root / "bodo_jupyter_config.py"
    plane_config.write_text(git.plane_config() + "c.Limits.min_cron_interval_s = 1\n")
    config = CONFIG + service_config(port=free_port(), data=data, plane_config=plane_config)
    hub = Hub(root / "hub", config).start()
    try:
        wait_for_service(hub)
        with hub.api() as api:
            for name in ("ada-acme", "bob-globex", "eve-acme", "nobody"):
                api.post(f"/users/{name}").raise_for_status()
            for org, members in (("acme", ["ada-acme", "eve-acme"]), ("globex", ["bob-globex"])):
                group = quote(org_groups(org, admin=False)[0], safe="")
                api.post(f"/groups/{group}", json={"users": members}).raise_for_status()
        yield hub, refs
    finally:
        try:
            hub.stop()
        finally:
            git.stop()


token = user_token


def client(hub: Hub, tok: str | None) -> httpx.Client:
    headers = {"Authorization": f"token {tok}"} if tok else {}
    return httpx.Client(base_url=hub.url + API, headers=headers, timeout=30)


def test_a_hub_token_acts_as_its_user_in_the_organisation_of_their_groups(world) -> None:
    hub, _ = world
    with client(hub, token(hub, "ada-acme")) as api:
        me = api.get("/").json()
        assert me["user"]["name"] == "ada-acme" and me["organization"]["name"] == "acme"
        assert [c["name"] for c in api.get("/clusters").json()["items"]] == ["acme-c"]
    # A colleague shares the organisation's objects.
    with client(hub, token(hub, "eve-acme")) as api:
        assert api.get("/clusters/acme-c").json()["name"] == "acme-c"


def test_without_a_usable_token_the_answer_is_json_that_says_why(world) -> None:
    hub, _ = world
    with client(hub, None) as api:
        r = api.get("/clusters")
        assert r.status_code == 401 and "log in to JupyterHub" in r.json()["error"]["message"]
    with client(hub, "not-a-token") as api:
        assert api.get("/clusters").status_code == 401
    # A token of the user without access to the service.
    with client(hub, token(hub, "ada-acme", ["read:users:name!user"])) as api:
        r = api.get("/clusters")
        assert r.status_code == 403, r.text
        assert "access:services!service=bodo" in r.json()["error"]["message"]
    # A user in no organisation's group.
    with client(hub, token(hub, "nobody")) as api:
        r = api.get("/clusters")
        assert r.status_code == 403 and "belongs to no organisation" in r.text


def test_a_cookie_request_without_xsrf_is_refused(world) -> None:
    """A browser's POST carries the hub's cookie: without the XSRF token it is refused,
    so another site cannot make a logged-in user's browser create things."""
    hub, _ = world
    browser = hub.login("ada-acme", "pw")
    try:
        page = browser.get(SERVICE + "/")
        assert page.status_code == 200, page.text
        r = browser.post(API + "/clusters", json={"name": "csrf"})
        assert r.status_code == 403
    finally:
        browser.close()
    with client(hub, token(hub, "ada-acme")) as api:
        assert api.get("/clusters/csrf").status_code == 404


def test_after_login_the_user_lands_on_the_platform_page(world) -> None:
    hub, _ = world
    browser = hub.login("eve-acme", "pw")
    try:
        # The hub's default URL is the service's page; its OAuth runs without a prompt.
        page = browser.get("/hub/")
        assert page.status_code == 200, page.text
        assert str(page.url).rstrip("/").endswith(SERVICE), page.url
        html = page.text
        assert "eve-acme" in html and "acme" in html
        steps = re.findall(r'data-state="([a-z-]+)"', html)
        # Local provider: credentials not needed; a failed cluster or notebook is not a
        # step done, but the page lists them.
        assert steps == ["not-needed", "todo", "todo"], steps
        assert "acme-c" in html and "acme-n" in html
    finally:
        browser.close()


def _routes() -> list[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return [(method, path) for path, ops in spec["paths"].items() for method in ops
            if method in ("get", "post", "put", "patch", "delete") and "{" in path]


BODIES = {("patch", "/jobs/{ref}"): {"active": True}}


@pytest.mark.parametrize("by", ["id", "name"])
def test_another_organisation_gets_404_on_every_route(world, by: str) -> None:
    hub, refs = world
    values = {"ref": None, "task_id": refs["task"], "run_id": refs["run"]}
    routes = _routes()
    assert len(routes) >= 12
    with client(hub, token(hub, "bob-globex")) as bob, \
            client(hub, token(hub, "ada-acme")) as ada:
        for method, path in routes:
            if path.startswith("/clusters"):
                values["ref"] = refs["cluster" if by == "id" else "cluster_name"]
            elif path.startswith("/jobs"):
                values["ref"] = refs["job" if by == "id" else "job_name"]
            elif path.startswith("/notebooks"):
                values["ref"] = refs["notebook" if by == "id" else "notebook_name"]
            url = re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)
            body = BODIES.get((method, path))
            r = bob.request(method.upper(), url, json=body)
            assert r.status_code == 404, (method, url, r.status_code, r.text)
            if method == "get":  # the refs are real: their owner finds them
                mine = ada.get(url)
                assert mine.status_code in (200, 409), (url, mine.status_code, mine.text)
        # Lists show nothing of theirs, and a filter by their name finds nothing.
        assert bob.get("/clusters").json()["items"] == []
        assert bob.get("/jobs").json()["items"] == []
        assert bob.get("/tasks").json()["items"] == []
        assert bob.get("/notebooks").json()["items"] == []
        # Nor can a job be put on their cluster.
        r = bob.post("/jobs", json={"name": "steal", "cluster": refs["cluster_name"],
                                    "command": "a.py", "source": {
                                        "type": "git", "path": "https://git.example.com/a"}})
        assert r.status_code in (400, 404) and "acme" not in r.text, r.text


def test_a_cron_job_runs_while_its_owner_has_no_server(world) -> None:
    """The scheduler lives in the service: a user's jobs run on schedule with no notebook
    server of theirs up (and so survive culling)."""
    hub, refs = world
    with hub.api() as api:
        assert api.get("/users/ada-acme").json()["servers"] == {}
    with client(hub, token(hub, "ada-acme")) as api:
        r = api.post("/clusters", json={"name": "acme-run", "instance_type": "local.small",
                                        "instances": 2})
        assert r.status_code == 202, r.text
        task = r.json()["task"]["id"]
        wait_for(lambda: api.get(f"/tasks/{task}", params={"wait": 10}).json()["status"]
                 in ("FINISHED", "FAILED"), 120, what="the cluster")
        assert api.get("/clusters/acme-run").json()["status"] == "RUNNING"
        try:
            r = api.post("/jobs", json={
                "name": "every-2s", "cluster": "acme-run", "command": "hello.py",
                "path": refs["repo"], "git_username": "ada", "git_password": GIT_TOKEN,
                "schedule": {"type": "cron", "cron": "* * * * * */2"}})
            assert r.status_code == 201, r.text

            def finished() -> list[dict]:
                runs = api.get("/jobs/every-2s/runs").json()["items"]
                return [x for x in runs if x["status"] == "FINISHED"]

            run = wait_for(finished, 120, interval=0.3, what="a cron run")[0]
            assert run["trigger"] == "cron"
            log = api.get(f"/jobs/every-2s/runs/{run['id']}/logs").json()
            assert "[rank 1] hello from 1" in log["text"], log
            assert api.patch("/jobs/every-2s", json={"active": False}).status_code == 200
        finally:
            wait_for(lambda: all(x["status"] not in ("NEW", "INPROGRESS") for x in
                                 api.get("/jobs/every-2s/runs").json()["items"]), 60,
                     what="the last run to end")
            r = api.delete("/clusters/acme-run")
            task = r.json()["task"]["id"]
            wait_for(lambda: api.get(f"/tasks/{task}", params={"wait": 10}).json()["status"]
                     in ("FINISHED", "FAILED"), 120, what="the cluster's delete")
    with hub.api() as api:
        assert api.get("/users/ada-acme").json()["servers"] == {}
