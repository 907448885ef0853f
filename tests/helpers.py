"""Real processes for tests: a control plane (`bodo-jupyter serve`), HTTP calls,
and the leak check that every MPI test ends with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bodo_jupyter.platform.providers import processes
from bodo_jupyter.platform.providers.local import TAG_CLUSTER, TAG_PLANE
from bodo_jupyter.platform.runtime import INFO_NAME
from bodo_jupyter.platform.service import plane_id
from bodo_jupyter.platform.store import sqlite_url

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789"


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
                 args: list[str] | None = None):
        self.data_dir = Path(data_dir)
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
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir)

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

    def delete_all_clusters(self) -> None:
        status, page = self.http("GET", "/clusters?limit=500")
        if status != 200:
            return
        for c in page["items"]:
            if c["status"] == "STOPPING" and c["last_task"]:
                self.wait_task(c["last_task"]["id"])  # a delete already under way
                continue
            if c["status"] == "TERMINATED":
                continue
            st, out = self.http("DELETE", f"/clusters/{c['id']}")
            if st == 202:
                self.wait_task(out["task"]["id"])


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


def cluster_processes(plane: str | None = None) -> dict[str, list[processes.ProcessRecord]]:
    """Live process sessions tagged as cluster processes (of one control plane)."""
    match = {TAG_PLANE: plane} if plane else None
    return processes.tagged_sessions(TAG_CLUSTER, None, match)


def assert_no_cluster_processes(plane: str | None = None, timeout: float = 15.0) -> None:
    def clean() -> bool:
        return not cluster_processes(plane)

    try:
        wait_for(clean, timeout, interval=0.2, what="cluster processes to exit")
    except AssertionError:
        left = cluster_processes(plane)
        raise AssertionError(f"cluster processes left behind: {left}") from None
