"""A real JupyterHub, with configurable-http-proxy, for the hub tests.

The hub runs from the test environment's own ``jupyterhub`` (the hub extra; scripts/setup
links configurable-http-proxy into the same bin folder), in a folder of its own, on free
loopback ports. ``Hub.stop`` stops it and fails loudly if the hub, the proxy or anything
they started is still running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bodo_jupyter.platform.service import plane_id
from bodo_jupyter.platform.store import sqlite_url
from tests.helpers import register_plane, wait_for
from tests.net import free_port

BIN = Path(sys.executable).parent


def submit(client: httpx.Client, path: str, data: dict[str, str],
           action: str | None = None) -> httpx.Response:
    """GET a page and POST its (first POST) form as a browser does: to the form's action
    (or ``action``), with the form's hidden fields (``_xsrf`` among them) under ``data``;
    the answer's redirects are not followed."""
    page = client.get(path, follow_redirects=True)
    page.raise_for_status()
    form = re.search(r'<form[^>]*method="post"[^>]*>(.*?)</form>', page.text, re.S)
    assert form, f"no POST form on {path}"
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                             form.group(1)))
    assert "_xsrf" in hidden, f"no _xsrf field on {path}"
    target = re.search(r'action="([^"]*)"', form.group(0))
    url = action or page.url.join(target.group(1) if target else "")
    return client.post(url, data={**hidden, **data}, follow_redirects=False)


def _user_work(p: psutil.Process) -> bool:
    """A process of a cluster or a notebook (tagged in its environment)."""
    try:
        env = p.environ()
    except (psutil.Error, OSError):
        return False
    return "BODO_JUPYTER_NOTEBOOK_ID" in env or "BODO_JUPYTER_CLUSTER_ID" in env


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Hub:
    """One JupyterHub process; ``restart`` keeps its database, cookie secret and ports."""

    def __init__(self, root: Path, config: str = "") -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port, self.api_port, self.hub_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: A token of a test service with the admin role: the tests' view of the hub API.
        self.admin_token = secrets.token_hex(16)
        config_text = self._base_config() + textwrap.dedent(config)
        (self.root / "jupyterhub_config.py").write_text(config_text)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "hub.log"

    def _base_config(self) -> str:
        chp = BIN / "configurable-http-proxy"
        return textwrap.dedent(f"""\
            c = get_config()  # noqa
            c.JupyterHub.bind_url = {self.url + "/"!r}
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {self.hub_port}
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.api_port}"
            c.ConfigurableHTTPProxy.command = [{str(chp)!r}]
            c.ConfigurableHTTPProxy.should_start = True
            c.JupyterHub.db_url = "sqlite:///{self.root}/jupyterhub.sqlite"
            c.JupyterHub.cookie_secret_file = "{self.root}/jupyterhub_cookie_secret"
            c.JupyterHub.pid_file = "{self.root}/jupyterhub.pid"
            c.JupyterHub.cleanup_servers = True
            c.JupyterHub.cleanup_proxy = True
            c.JupyterHub.services = [{{"name": "tests", "api_token": {self.admin_token!r}}}]
            c.JupyterHub.load_roles = [{{"name": "tests-admin", "scopes": ["admin:users",
                "admin:servers", "admin:groups", "tokens", "read:hub", "proxy"],
                "services": ["tests"]}}]
            """)

    def start(self, timeout: float = 60.0) -> Hub:
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(self.root / "jupyterhub_config.py")],
            cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterHub did not answer in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self) -> httpx.Client:
        """A client of the hub's REST API as the tests' admin service."""
        return httpx.Client(base_url=f"{self.url}/hub/api",
                            headers={"Authorization": f"token {self.admin_token}"}, timeout=30)

    def login(self, username: str, password: str) -> httpx.Client:
        """A browser-like client logged in through the hub's login form (XSRF and all)."""
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=True)
        page = client.get("/hub/login")
        page.raise_for_status()
        xsrf = client.cookies.get("_xsrf")
        # Not followed: after login the hub sends users on to spawn their server.
        r = client.post("/hub/login", data={"username": username, "password": password,
                                            "_xsrf": xsrf or ""}, follow_redirects=False)
        if r.status_code != 302 or "/hub/login" in r.headers.get("location", "/hub/login"):
            client.close()
            raise AssertionError(f"login of {username} failed: {r.status_code}")
        return client

    def browser(self) -> httpx.Client:
        """A fresh browser-like client of the hub (no cookies yet), redirects not followed."""
        return httpx.Client(base_url=self.url, timeout=30)

    def submit(self, client: httpx.Client, path: str, data: dict[str, str],
               action: str | None = None) -> httpx.Response:
        return submit(client, path, data, action)

    def _tree(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30.0, keep_user_work: bool = False) -> None:
        """SIGTERM the hub (it stops its proxy and servers), then check nothing is left.
        ``keep_user_work``: the platform's clusters and notebook servers (and their
        kernels) are meant to outlive the hub and its service; they are not waited for."""
        if self.proc is None:
            return
        tree = self._tree()
        if keep_user_work:
            tree = [p for p in tree if not _user_work(p)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                raise AssertionError(f"JupyterHub ignored SIGTERM for {timeout} s") from None
        _, alive = psutil.wait_procs(tree, timeout=timeout)
        left = [p for p in alive if _running(p)]
        for p in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        self.proc = None
        if left:
            raise AssertionError("still running after the hub stopped: "
                                 + ", ".join(f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in left))

    def restart(self, keep_user_work: bool = False) -> Hub:
        self.stop(keep_user_work=keep_user_work)
        return self.start()


def service_config(*, port: int, data: Path, plane_config: Path | None = None,
                   environment: dict[str, str] | None = None) -> str:
    """Hub config lines for the platform: the control plane as the hub-managed service
    ``bodo`` (its data in ``data``), users allowed to reach it, the hub's default URL its
    page."""
    register_service_plane(data, "the hub service")
    argv = [sys.executable, "-m", "bodo_jupyter.cli", "serve", "--data-dir", str(data)]
    if plane_config is not None:
        argv += ["--config", str(plane_config)]
    return textwrap.dedent(f"""
        c.JupyterHub.services.append({{
            "name": "bodo",
            "url": "http://127.0.0.1:{port}",
            "command": {argv!r},
            "environment": {dict(environment or {})!r},
            "oauth_no_confirm": True,
        }})
        c.JupyterHub.load_roles.append({{"name": "user",
            "scopes": ["self", "access:services!service=bodo"]}})
        c.JupyterHub.load_roles.append({{"name": "bodo-service",
            "scopes": ["read:users", "read:groups"], "services": ["bodo"]}})
        c.JupyterHub.default_url = "/services/bodo/"
        """)


def register_service_plane(data: Path, what: str) -> str:
    """The control plane a hub starts on ``data``, for the session's leak check: its
    clusters and notebooks outlive the hub by design, so a test that leaves one running
    fails the run."""
    data = Path(data)
    return register_plane(plane_id(sqlite_url(data / "bodo-jupyter.sqlite"), data),
                          f"{what} in {data}")


def platform_call(base_url: str, token: str) -> Any:
    """The platform's API as a user, in the shape tests.helpers.clean_up calls it."""
    def call(method: str, path: str, body: Any = None, timeout: float = 60
             ) -> tuple[int, Any]:
        r = httpx.request(method, base_url.rstrip("/") + "/services/bodo/api/v1" + path,
                          json=body, timeout=timeout,
                          headers={"Authorization": f"token {token}"})
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    return call


def platform(hub: Hub, user: str) -> httpx.Client:
    """A client of the platform's API as ``user`` (a fresh hub token of theirs)."""
    return httpx.Client(base_url=hub.url + "/services/bodo/api/v1", timeout=60,
                        headers={"Authorization": f"token {user_token(hub, user)}"})


def wait_task(api: httpx.Client, task_id: str, timeout: float = 240) -> dict[str, Any]:
    """Until the task ends (long polls through ``api``); the task."""
    return wait_for(lambda: (t := api.get(f"/tasks/{task_id}", params={"wait": 10}).json())
                    ["status"] in ("FINISHED", "FAILED", "CANCELLED") and t,
                    timeout, what=f"task {task_id}")


def progress_events(hub: Hub, user: str, server: str) -> list[dict[str, Any]]:
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


def wait_for_service(hub: Hub, timeout: float = 60.0) -> None:
    """Until the platform service answers through the proxy (its 401 is an answer)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(hub.url + "/services/bodo/api/v1/", timeout=5).status_code == 401:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the bodo service did not answer:\n{hub.log_tail()}")
        time.sleep(0.2)


def user_token(hub: Hub, user: str, scopes: list[str] | None = None) -> str:
    """A new hub token of ``user`` (default: for the platform service only)."""
    with hub.api() as api:
        r = api.post(f"/users/{user}/tokens", json={
            "note": "test", "scopes": scopes or ["access:services!service=bodo"]})
        r.raise_for_status()
        return str(r.json()["token"])
