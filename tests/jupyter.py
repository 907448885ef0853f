"""A real Jupyter server for tests, and cells run in its kernels over the websocket
the way JupyterLab runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bodo_jupyter.platform.service import plane_id
from bodo_jupyter.platform.store import sqlite_url

from .helpers import clean_up, http, register_plane, wait_for
from .net import free_port

JUPYTER_TOKEN = "jupyter-test-token-abcdef"


class JupyterServer:
    def __init__(self, root: Path, data_dir: Path, env: dict[str, str] | None = None,
                 app: str = "jupyter_server", args: tuple[str, ...] = ()):
        """``app``: the module run (``jupyterlab`` for ``jupyter lab``); ``args``: more
        command-line options."""
        self.app = app
        self.args = args
        self.root = root
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.api = self.base + "bodo/api/v1"
        self.env = {**os.environ, "BODO_JUPYTER_DATA_DIR": str(data_dir), **(env or {})}
        self.env.pop("BODO_JUPYTER_URL", None)
        self.env.pop("BODO_JUPYTER_TOKEN", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "jupyter-server.log"

    def start(self) -> JupyterServer:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.app, "--no-browser", "--ip=127.0.0.1",
                 f"--port={self.port}", f"--IdentityProvider.token={JUPYTER_TOKEN}",
                 f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0",
                 *(["--allow-root"] if os.geteuid() == 0 else []), *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(self.log.read_text()[-3000:])
            return self.call("GET", "")[0] == 200

        wait_for(up, 60, interval=0.2, what="jupyter server")
        register_plane(self.plane_id, f"Jupyter server's control plane in {self.data_dir}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def call(self, method: str, path: str, body: Any = None,
             token: str | None = JUPYTER_TOKEN) -> tuple[int, Any]:
        try:
            return http(self.api, method, path, body, token)
        except OSError:
            return 0, None

    @property
    def plane_id(self) -> str:
        """The id of the control plane the extension runs (SQLite in ``data_dir``)."""
        return plane_id(sqlite_url(self.data_dir / "bodo-jupyter.sqlite"), self.data_dir)

    def shut_down(self) -> None:
        """The end of a test: clean up (failing loudly), stop, and check that no process
        of this control plane's clusters is left."""
        from .helpers import assert_no_cluster_processes

        try:
            self.clean_up()
        finally:
            self.stop()
        assert_no_cluster_processes(self.plane_id)

    def clean_up(self, timeout: float = 180) -> None:
        """Clusters outlive the server that made them: leave nothing running (see
        :func:`helpers.clean_up`)."""
        def call(method: str, path: str, body: Any = None, timeout: float = 60
                 ) -> tuple[int, Any]:
            return http(self.api, method, path, body, JUPYTER_TOKEN, timeout=timeout)

        clean_up(call, f"Jupyter server's control plane in {self.data_dir}", timeout)

    def jupyter(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return http(self.base.rstrip("/"), method, path, body, JUPYTER_TOKEN)

    # -- kernels -----------------------------------------------------------------------

    def start_kernel(self) -> str:
        return start_kernel(self.base, JUPYTER_TOKEN)

    def run(self, kernel_id: str, *cells: str, timeout: float = 120) -> list[dict[str, Any]]:
        return run_cells(self.base, JUPYTER_TOKEN, kernel_id, *cells, timeout=timeout)


def start_kernel(base: str, token: str) -> str:
    """A python3 kernel started through a Jupyter server's REST API (``base`` ends in /)."""
    status, k = http(base.rstrip("/"), "POST", "/api/kernels", {"name": "python3"}, token)
    assert status == 201, k
    return str(k["id"])


def run_cells(base: str, token: str, kernel_id: str, *cells: str,
              timeout: float = 120) -> list[dict[str, Any]]:
    """Run cells in a kernel of the server at ``base`` over its websocket, as JupyterLab
    does; each cell's stdout, stderr, results, error and reply status."""
    return asyncio.run(_run(base, token, kernel_id, list(cells), timeout))


async def _run(base: str, token: str, kernel_id: str, cells: list[str], timeout: float
               ) -> list[dict[str, Any]]:
    url = (base.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
           f"?session_id={uuid.uuid4().hex}")
    req = HTTPRequest(url, headers={"Authorization": f"token {token}"})
    ws = await websocket_connect(req)
    results = []
    try:
        for code in cells:
            results.append(await _execute(ws, code, timeout))
    finally:
        ws.close()
    return results


async def _execute(ws: Any, code: str, timeout: float) -> dict[str, Any]:
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    out: dict[str, Any] = {"stdout": "", "stderr": "", "results": [], "error": None,
                           "reply": None}
    idle = False
    deadline = time.monotonic() + timeout
    while not (idle and out["reply"] is not None):
        raw = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        if raw is None:
            raise AssertionError("kernel websocket closed")
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            out[c["name"]] += c["text"]
        elif t in ("execute_result", "display_data"):
            out["results"].append(c["data"].get("text/plain", ""))
        elif t == "error":
            out["error"] = f"{c['ename']}: {c['evalue']}"
        elif t == "status" and c["execution_state"] == "idle":
            idle = True
        elif t == "execute_reply":
            out["reply"] = c["status"]
    return out
