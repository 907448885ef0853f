"""`scripts/start-lab` for real: JupyterLab with its output redirected to a file (as under
a service manager), and a terminal in it that finds the `bodo-jupyter` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bodo_jupyter.platform.service import plane_id
from bodo_jupyter.platform.store import sqlite_url

from .helpers import ROOT, http, register_plane, wait_for
from .net import free_port

TOKEN = "start-test-token-0123456789"
DONE = "done-42"  # what `echo done-$((6*7))` prints (its echo on the terminal does not)


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """A HOME and Jupyter folders of the test's own, and a PATH without .venv/bin: only
    scripts/start-lab can put it there."""
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "BODO_JUPYTER", "VIRTUAL_ENV", "IPYTHON"))}
    path = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p and os.path.realpath(p) != os.path.realpath(venv_bin)]
    env.update(
        PATH=os.pathsep.join(path), HOME=str(tmp_path / "home"), SHELL="/bin/bash",
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        BODO_JUPYTER_DATA_DIR=str(tmp_path / "bodo-data"))
    (tmp_path / "home").mkdir()
    return env


async def run_in_terminal(port: int | str, name: str, line: str, timeout: float = 60,
                          token: str = TOKEN) -> str:
    """Type ``line`` into a JupyterLab terminal over its websocket; return what the
    terminal shows until DONE appears. ``port``: of a server on 127.0.0.1, or a server's
    base URL (``http://.../user/ada/``)."""
    base = (f"ws://127.0.0.1:{port}/" if isinstance(port, int)
            else port.replace("http://", "ws://", 1))
    req = HTTPRequest(f"{base}terminals/websocket/{name}",
                      headers={"Authorization": f"token {token}"})
    ws = await websocket_connect(req)
    shown = ""
    try:
        ws.write_message(json.dumps(["stdin", line + "\r"]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while DONE not in shown:
            raw = await asyncio.wait_for(ws.read_message(), deadline - loop.time())
            if raw is None:
                raise AssertionError(f"terminal websocket closed; it showed: {shown!r}")
            kind, *data = json.loads(raw)
            if kind == "stdout":
                shown += data[0]
    finally:
        ws.close()
    return shown


def test_a_terminal_of_scripts_start_finds_bodo_jupyter(tmp_path):
    """Output redirected (not a terminal), so jupyter_server_terminals would start
    login shells, which reset PATH; scripts/start-lab names the shell to keep PATH."""
    env = isolated_env(tmp_path)
    port = free_port()
    log = tmp_path / "start.log"
    data = Path(env["BODO_JUPYTER_DATA_DIR"])
    register_plane(plane_id(sqlite_url(data / "bodo-jupyter.sqlite"), data),
                   f"JupyterLab of scripts/start-lab in {data}")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "start-lab"), "--ip=127.0.0.1", f"--port={port}",
             f"--ServerApp.token={TOKEN}", "--ServerApp.port_retries=0",
             f"--ServerApp.root_dir={tmp_path}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=tmp_path, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    shell_pid = None
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"scripts/start-lab exited: {log.read_text()[-3000:]}")
            try:
                return http(base, "GET", "/api/status", token=TOKEN, timeout=5)[0] == 200
            except OSError:
                return False

        wait_for(up, 120, interval=0.2, what="JupyterLab from scripts/start-lab")
        status, term = http(base, "POST", "/api/terminals", {}, token=TOKEN)
        assert status == 200, term
        shown = asyncio.run(run_in_terminal(
            port, term["name"], "command -v bodo-jupyter; echo pid=$$; echo done-$((6*7))"))
        assert str(ROOT / ".venv" / "bin" / "bodo-jupyter") in shown, shown
        shell_pid = int(shown.split("pid=")[-1].split()[0])
        assert psutil.Process(shell_pid).name() == "bash"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # scripts/start-lab exec'd into jupyter lab
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            raise AssertionError(f"JupyterLab did not stop: {log.read_text()[-3000:]}") from None
    # Nothing it started is left: not the terminal's shell, not its own session.
    if shell_pid is not None:
        wait_for(lambda: not psutil.pid_exists(shell_pid)
                 or psutil.Process(shell_pid).status() == psutil.STATUS_ZOMBIE,
                 30, interval=0.1, what="the terminal's shell to exit")
    left = [p for p in psutil.process_iter(["pid"]) if _sid(p.pid) == proc.pid]
    assert not left, f"processes of scripts/start-lab left running: {left}"


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
