"""Real processes for tests: a control plane (`bodo-jupyter serve`), HTTP calls,
and the leak check that every MPI test ends with."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bodo_jupyter.platform.providers import processes
from bodo_jupyter.platform.providers.local import TAG_CLUSTER, TAG_PLANE
from bodo_jupyter.platform.providers.local_notebook_launch import TAG_NOTEBOOK
from bodo_jupyter.platform.runtime import INFO_NAME
from bodo_jupyter.platform.service import ControlPlane, plane_id
from bodo_jupyter.platform.store import sqlite_url

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789"

# Control planes this test session made: plane id -> what it was. The session's leak
# check (conftest.py) looks at the processes of these planes only, so that other test
# runs on the same machine are not taken for leaks of this one.
PLANES: dict[str, str] = {}


def register_plane(plane: str, what: str) -> str:
    """Record a control plane of this session (by its id) for the final leak check."""
    PLANES.setdefault(plane, what)
    return plane


def track(plane: ControlPlane) -> ControlPlane:
    """An in-process ControlPlane, registered for the session's leak check."""
    register_plane(plane.plane_id, f"in-process control plane in {plane.path}")
    return plane


def wait_for(pred, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Serve:
    """`bodo-jupyter serve` as a child process on a free port."""

    def __init__(self, data_dir: Path, token: str = TOKEN, env: dict[str, str] | None = None,
                 args: list[str] | None = None, user: int | None = None):
        self.data_dir = Path(data_dir)
        self.user = user  # run as this uid (and gid), e.g. an unprivileged one as root
        self.token = token
        self.env = {**os.environ, "BODO_JUPYTER_TOKEN": token,
                    "BODO_JUPYTER_DATA_DIR": str(self.data_dir), **(env or {})}
        self.env.pop("BODO_JUPYTER_URL", None)
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log = self.data_dir / "serve.log"

    @property
    def plane_id(self) -> str:
        return plane_id(sqlite_url(self.data_dir / "bodo-jupyter.sqlite"), self.data_dir)

    def start(self, timeout: float = 30.0) -> Serve:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        info = self.data_dir / INFO_NAME
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bodo_jupyter.cli", "serve", "--port", "0", *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir,
                **({"user": self.user, "group": self.user, "extra_groups": []}
                   if self.user is not None else {}))

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.log.read_text()[-3000:]}")
            try:
                d = json.loads(info.read_text())
            except (OSError, ValueError):
                return False
            if d.get("pid") != self.proc.pid:
                return False
            self.url = d["url"]
            return True

        wait_for(ready, timeout, what="control plane start")
        register_plane(self.plane_id, f"bodo-jupyter serve in {self.data_dir}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    # -- HTTP --------------------------------------------------------------------------

    def http(self, method: str, path: str, body: Any = None, token: str | None = None,
             raw_body: bytes | None = None, headers: dict[str, str] | None = None,
             timeout: float = 60) -> tuple[int, Any]:
        return http(self.url, method, path, body, self.token if token is None else token,
                    raw_body=raw_body, headers=headers, timeout=timeout)

    def client_env(self) -> dict[str, str]:
        env = {**os.environ, "BODO_JUPYTER_URL": self.url, "BODO_JUPYTER_TOKEN": self.token}
        return env

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", *args],
                              env={**self.client_env(), **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)

    def wait_task(self, task_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, task = self.http("GET", f"/tasks/{task_id}?wait=5")
            assert status == 200, task
            if task["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} still {task['status']}: {task}")

    def shut_down(self) -> None:
        """The end of a fixture: clean up (failing loudly), stop, and check that no
        process of this control plane's clusters is left."""
        try:
            self.clean_up()
        finally:
            self.stop()
        assert_no_cluster_processes(self.plane_id)

    def clean_up(self, timeout: float = 180) -> None:
        """Leave nothing running: see :func:`clean_up`. A control plane that is down
        (a test killed it) is started again first, so that it can clean up for real."""
        if self.proc is not None and self.proc.poll() is not None:
            self.start()
        clean_up(self.http, f"control plane in {self.data_dir}", timeout)

def http(url: str, method: str, path: str, body: Any = None, token: str | None = TOKEN, *,
         raw_body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 60) -> tuple[int, Any]:
    data = raw_body if raw_body is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if "json" in ctype:
        return status, json.loads(raw)
    return status, raw.decode()


# -- clean-up ----------------------------------------------------------------------

ENDED = ("FINISHED", "FAILED", "CANCELLED")
Call = Callable[..., tuple[int, Any]]


def _pages(call: Call, path: str) -> list[dict[str, Any]]:
    """Every item of a paginated list (newest first), following ``next``."""
    items: list[dict[str, Any]] = []
    sep = "&" if "?" in path else "?"
    cursor = ""
    while True:
        status, page = call("GET", f"{path}{sep}limit=500{cursor}")
        if status != 200:
            raise AssertionError(f"clean-up: GET {path} answered {status}: {page}")
        items += page["items"]
        if not page.get("next"):
            return items
        cursor = f"&cursor={page['next']}"


def follow_task(call: Call, task_id: str, deadline: float) -> dict[str, Any]:
    """Follow a task through the API's long poll until it ends (or the deadline)."""
    since = 0
    while True:
        left = deadline - time.monotonic()
        wait = max(0.1, min(30.0, left))
        status, task = call("GET", f"/tasks/{task_id}?since={since}&wait={wait:.1f}",
                            timeout=wait + 30)
        if status != 200:
            raise AssertionError(f"clean-up: GET /tasks/{task_id} answered {status}: {task}")
        if task["status"] in ENDED or left <= 0:
            return task
        since = task.get("last_seq", since)


def clean_up(call: Call, what: str = "control plane", timeout: float = 180) -> None:
    """Leave a control plane with nothing running, or fail saying what is left.

    In order: pause every active scheduled job (nothing new starts), cancel every
    active job run and wait for its task (a run's own cluster goes with it), delete
    every notebook that is not TERMINATED (it lets go of its cluster), delete every
    cluster that is not TERMINATED (following deletes already under way), wait for
    every task still open, then check: no notebook or cluster but TERMINATED ones, no
    task NEW or INPROGRESS. ``call(method, path, body=None)`` is the API of the plane.
    """
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    for job in _pages(call, "/jobs"):
        sched = job["schedule"]
        if sched["active"] and sched["type"] in ("at", "cron"):
            status, out = call("PATCH", f"/jobs/{job['id']}", {"active": False})
            if status != 200:
                problems.append(f"pausing job {job['name']} answered {status}: {out}")
    runs = [t for t in _pages(call, "/tasks?status=NEW,INPROGRESS") if t["kind"] == "job.run"]
    for t in runs:
        status, out = call("POST", f"/tasks/{t['id']}/cancel")
        if status not in (202, 409):  # 409: it ended meanwhile
            problems.append(f"cancelling run task {t['id']} answered {status}: {out}")
    for t in runs:
        follow_task(call, t["id"], deadline)
    for n in _pages(call, "/notebooks"):  # every notebook but TERMINATED ones
        last = n.get("last_task") or {}
        if last.get("kind") == "notebook.delete" and last.get("status") not in ENDED:
            follow_task(call, last["id"], deadline)
            continue
        status, out = call("DELETE", f"/notebooks/{n['id']}")
        if status == 202:
            follow_task(call, out["task"]["id"], deadline)
        elif status != 409:
            problems.append(f"deleting notebook {n['name']} ({n['id']}) answered {status}: "
                            f"{out}")
    for c in _pages(call, "/clusters"):  # every cluster but TERMINATED ones
        last = c.get("last_task") or {}
        if last.get("kind") == "cluster.delete" and last.get("status") not in ENDED:
            follow_task(call, last["id"], deadline)  # a delete already under way
            continue
        status, out = call("DELETE", f"/clusters/{c['id']}")
        if status == 202:
            follow_task(call, out["task"]["id"], deadline)
            continue
        # 404/409: deleted meanwhile, or a delete started meanwhile (else: a problem).
        _, again = call("GET", f"/clusters/{c['id']}")
        again = again if isinstance(again, dict) else {}
        last = again.get("last_task") or {}
        if status in (404, 409) and again.get("status") in (None, "TERMINATED"):
            continue
        if status == 409 and last.get("kind") == "cluster.delete":
            follow_task(call, last["id"], deadline)
            continue
        problems.append(f"deleting cluster {c['name']} ({c['id']}) answered {status}: {out}")
    for t in _pages(call, "/tasks?status=NEW,INPROGRESS"):
        follow_task(call, t["id"], deadline)
    left = [f"notebook {n['name']} ({n['id']}) {n['status']}: {n['status_message']}"
            for n in _pages(call, "/notebooks")]
    left += [f"cluster {c['name']} ({c['id']}) {c['status']}: {c['status_message']}"
             for c in _pages(call, "/clusters")]
    left += [f"task {t['id']} {t['kind']} {t['status']} (cluster {t['cluster_name']})"
             for t in _pages(call, "/tasks?status=NEW,INPROGRESS")]
    if left or problems:
        raise AssertionError(f"clean-up of {what} left things behind:\n  "
                             + "\n  ".join(problems + left))


def cluster_processes(plane: str | None = None) -> dict[str, list[processes.ProcessRecord]]:
    """Live process sessions tagged as cluster or notebook processes (of one control
    plane), by cluster or notebook id."""
    match = {TAG_PLANE: plane} if plane else None
    return {**processes.tagged_sessions(TAG_CLUSTER, None, match),
            **processes.tagged_sessions(TAG_NOTEBOOK, None, match)}


def notebook_processes(notebook_id: str) -> list[processes.ProcessRecord]:
    """Live process sessions of one notebook (its server, its kernels)."""
    return processes.tagged_sessions(TAG_NOTEBOOK, notebook_id).get(notebook_id, [])


def leaked_processes(planes: dict[str, str]) -> dict[str, list[str]]:
    """Live processes tagged with one of ``planes`` (plane id -> description), by plane;
    processes of other control planes (other test runs on this machine) are ignored."""
    out: dict[str, list[str]] = {}
    for p in psutil.process_iter(["pid", "name", "status"]):
        try:
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        plane = env.get(TAG_PLANE)
        if plane in planes and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.setdefault(f"{plane} ({planes[plane]})", []).append(
                f"pid {p.info['pid']} {p.info['name']} of "
                + (f"notebook {env[TAG_NOTEBOOK]}" if TAG_NOTEBOOK in env
                   else f"cluster {env.get(TAG_CLUSTER)}"))
    return out


def stop_leaked(planes: dict[str, str]) -> None:
    """Stop every process session of ``planes`` (after a leak was reported), so that a
    leak fails the run once and does not linger on the machine."""
    for plane, sessions in processes.tagged_sessions(TAG_PLANE).items():
        if plane in planes:
            for rec in sessions:
                processes.stop_session(rec, timeout=5)


def assert_no_cluster_processes(plane: str | None = None, timeout: float = 15.0) -> None:
    def clean() -> bool:
        return not cluster_processes(plane)

    try:
        wait_for(clean, timeout, interval=0.2, what="cluster processes to exit")
    except AssertionError:
        left = cluster_processes(plane)
        raise AssertionError(f"cluster processes left behind: {left}") from None


def org_users_under(folder: Path) -> list[str]:
    """OS users the control plane made for organisations whose home is under ``folder``."""
    import pwd

    return [p.pw_name for p in pwd.getpwall()
            if p.pw_dir.startswith(str(folder) + os.sep)]


def remove_org_users(folder: Path) -> None:
    """Remove the organisations' OS users a test session made (root only)."""
    if os.geteuid() != 0:
        return
    for name in org_users_under(folder):
        subprocess.run(["userdel", name], capture_output=True, check=False)


def build_wheel(folder: Path, name: str, version: str) -> Path:
    """A real wheel of a one-module package (what setuptools would make, without it)."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: bodo-jupyter-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    os.chmod(wheel, 0o644)
    return wheel
