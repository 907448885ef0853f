"""`scripts/start` for real: the whole platform as a newcomer meets it.

The README's run command starts JupyterHub (configurable-http-proxy, BodoAuthenticator,
BodoSpawner, the control plane as the service `bodo`, SQLite) and a local mail catcher
(a real aiosmtpd SMTP server) that prints each activation link to the console. A
newcomer signs up through the form, follows the printed link, logs in and lands on the
platform's page; creates a cluster and a notebook attached to it through the hub API
with options, reads the spawn progress to ready, runs %%px in a kernel of the notebook,
and stops it: the cluster's lease is released. Then the platform stops with nothing
left running.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import ROOT, clean_up, wait_for
from tests.hub import platform_call, register_service_plane, submit
from tests.jupyter import run_cells, start_kernel
from tests.net import free_port
from tests.test_start_lab import isolated_env, run_in_terminal

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple 9"


def session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def test_the_run_command_serves_the_platform_from_sign_up_to_px(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    port = free_port()
    env.update(BODO_HUB_DATA_DIR=str(tmp_path / "hub-data"),
               BODO_HUB_BIND_URL=f"http://127.0.0.1:{port}/",
               BODO_SERVICE_PORT=str(free_port()), BODO_HUB_CATCHER_PORT=str(free_port()),
               BODO_HUB_HUB_PORT=str(free_port()), BODO_HUB_PROXY_API_PORT=str(free_port()))
    log = tmp_path / "start.log"
    register_service_plane(tmp_path / "hub-data" / "platform", "scripts/start's service")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ROOT / "scripts" / "start")], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=tmp_path, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    browser = httpx.Client(base_url=base, timeout=60)
    token = ""
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"scripts/start exited: {log.read_text()[-3000:]}")
            try:
                return (httpx.get(base + "/hub/api/", timeout=5).status_code == 200 and
                        httpx.get(base + "/services/bodo/api/v1/", timeout=5).status_code
                        == 401)
            except httpx.HTTPError:
                return False

        wait_for(up, 300, interval=0.3, what="the platform from scripts/start")

        # Sign up through the form; the console shows the activation link.
        r = submit(browser, "/hub/bodo/signup", {
            "full_name": "Ada Lovelace", "email": EMAIL, "organization": "Acme",
            "password": PASSWORD, "terms": "on"})
        assert r.status_code == 302, html.unescape(r.text)[-2000:]
        links = wait_for(lambda: re.findall(r"https?://\S+/hub/bodo/activate\?token=\S+",
                                            log.read_text()), 60, what="the activation link")
        assert links[0].startswith(base), links
        r = browser.get(links[0], follow_redirects=True)
        assert r.status_code == 200 and "/hub/login" in str(r.url), r.text[-2000:]

        # Log in: the platform's page, with the onboarding list.
        r = submit(browser, "/hub/login", {"username": EMAIL, "password": PASSWORD})
        assert r.status_code == 302, html.unescape(r.text)[-2000:]
        page = browser.get("/hub/", follow_redirects=True)
        assert page.status_code == 200 and str(page.url).endswith("/services/bodo/"), page.url
        assert re.findall(r'data-state="([a-z-]+)"', page.text) == ["not-needed", "todo", "todo"]

        # A token of the user, made in the browser session (XSRF header and all).
        r = browser.post(f"/hub/api/users/{EMAIL}/tokens", json={"note": "test"},
                         headers={"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/")})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        auth = {"Authorization": f"token {token}"}
        api = httpx.Client(base_url=base + "/services/bodo/api/v1", headers=auth, timeout=60)
        hub = httpx.Client(base_url=base + "/hub/api", headers=auth, timeout=60)

        r = api.post("/clusters", json={"name": "first", "instance_type": "local.medium"})
        assert r.status_code == 202, r.text
        task = r.json()["task"]["id"]
        assert wait_for(lambda: (t := api.get(f"/tasks/{task}", params={"wait": 10}).json())
                        ["status"] in ("FINISHED", "FAILED") and t, 240,
                        what="the cluster")["status"] == "FINISHED"

        # A notebook attached to it, through the hub API with options.
        r = hub.post(f"/users/{EMAIL}/servers/analysis",
                     json={"instance_type": "local.notebook", "cluster": "first"})
        assert r.status_code in (201, 202), r.text
        events = []
        with hub.stream("GET", f"/users/{EMAIL}/servers/analysis/progress",
                        timeout=300) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                    if events[-1].get("ready") or events[-1].get("failed"):
                        break
        assert events[-1].get("ready"), events
        assert any("attach-cluster" in e.get("message", "") for e in events), events
        assert api.get("/clusters/first").json()["holder"]["kind"] == "notebook"

        server = f"{base}/user/{EMAIL}/analysis/"
        kernel = start_kernel(server, token)
        px, = run_cells(server, token, kernel,
                        "%%px\nfrom mpi4py import MPI\nprint('rank', MPI.COMM_WORLD.rank)",
                        timeout=180)
        assert px["error"] is None, px
        text = px["stdout"] + "".join(px["results"])
        assert "rank 0" in text and "rank 1" in text, text

        # A terminal of the notebook: the CLI finds the platform and acts as the user.
        r = httpx.post(server + "api/terminals", headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        shown = asyncio.run(run_in_terminal(
            server, r.json()["name"], "bodo-jupyter cluster list; echo done-$((6*7))",
            timeout=120, token=token))
        assert "first" in shown and "RUNNING" in shown, shown

        # The platform's page lists the notebook now; stopping it frees the cluster.
        assert "analysis" in browser.get("/services/bodo/", follow_redirects=True).text
        assert hub.delete(f"/users/{EMAIL}/servers/analysis").status_code in (202, 204)
        wait_for(lambda: api.get("/clusters/first").json()["holder"] is None, 120,
                 what="the lease to be released")
        r = api.delete("/clusters/first")
        task = r.json()["task"]["id"]
        wait_for(lambda: api.get(f"/tasks/{task}", params={"wait": 10}).json()["status"]
                 in ("FINISHED", "FAILED"), 120, what="the cluster's delete")
        api.close()
        hub.close()
    finally:
        browser.close()
        try:
            if token and proc.poll() is None:
                # Clusters and notebooks outlive the hub by design: whatever a failed
                # step left, the platform deletes before the hub stops.
                clean_up(platform_call(base, token), "the platform of scripts/start")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # scripts/start exec'd into jupyterhub
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                raise AssertionError(
                    f"the hub did not stop: {log.read_text()[-3000:]}") from None
    left = [p for p in psutil.process_iter(["pid"]) if session_of(p.pid) == proc.pid]
    assert not left, f"processes of scripts/start left running: {left}"
    assert PASSWORD not in log.read_text()
