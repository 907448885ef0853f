"""The `bodo-jupyter` command line as users run it: real processes, exit codes, and
errors that are one line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bodo_jupyter.platform.providers import bodo_versions
from bodo_jupyter.sdk import Platform

from .helpers import Serve, assert_no_cluster_processes


def one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and "Traceback" not in proc.stdout
    assert err.startswith("error: "), err
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


@pytest.mark.mpi
def test_cluster_lifecycle_from_the_cli(serve: Serve):
    r = serve.cli("cluster", "create", "cli-demo", "--instance-type", "local.medium",
                  "--instances", "2", "--wait")
    assert r.returncode == 0, r.stderr
    assert "register" in r.stdout and "4/4 engines registered" in r.stdout
    assert "Cluster cli-demo is RUNNING" in r.stdout

    listed = json.loads(serve.cli("cluster", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["cli-demo"]
    shown = json.loads(serve.cli("cluster", "show", "cli-demo", "--json").stdout)
    assert shown["core_count"] == 4 and shown["status"] == "RUNNING"
    assert shown["bodo_version"] == bodo_versions.installed()  # the default: the installed
    table = serve.cli("cluster", "list").stdout
    assert "cli-demo" in table and "RUNNING" in table
    if shown["bodo_version"]:
        assert shown["bodo_version"] in table
        assert shown["bodo_version"] in serve.cli("cluster", "show", "cli-demo").stdout

    # Created from the CLI, attachable from Python (the notebook path uses the same call).
    rc = Platform(serve.url, serve.token).clusters.get("cli-demo").attach()
    try:
        assert rc[:].apply_sync(lambda: __import__("mpi4py.MPI").MPI.COMM_WORLD.rank) == \
            [0, 1, 2, 3]
    finally:
        rc.close()

    tasks = json.loads(serve.cli("task", "list", "--json", "--cluster", "cli-demo").stdout)
    assert [t["kind"] for t in tasks] == ["cluster.create"]
    shown = serve.cli("task", "show", tasks[0]["id"])
    assert shown.returncode == 0 and "FINISHED" in shown.stdout and "register" in shown.stdout
    detail = json.loads(serve.cli("task", "show", tasks[0]["id"], "--json").stdout)
    assert [s["state"] for s in detail["steps"]] == ["done"] * 4

    r = serve.cli("cluster", "delete", "cli-demo", "--wait")
    assert r.returncode == 0, r.stderr
    assert "Cluster cli-demo deleted" in r.stdout
    assert_no_cluster_processes(serve.plane_id)
    assert json.loads(serve.cli("cluster", "list", "--json").stdout) == []


def test_reads_and_json(serve: Serve):
    types = json.loads(serve.cli("instance-types", "--json").stdout)
    assert {t["name"]: t["cores"] for t in types}["local.medium"] == 2
    r = serve.cli("instance-types", "--efa")
    assert r.returncode == 0 and "No instance types with EFA" in r.stdout
    info = json.loads(serve.cli("info", "--json").stdout)
    assert info["organization"]["name"] == "default" and info["url"] == serve.url
    assert json.loads(serve.cli("task", "list", "--json", "--status", "FAILED").stdout) == []


def test_bodo_versions_are_listed_and_a_version_not_offered_is_refused(serve: Serve):
    have = bodo_versions.installed()
    listed = json.loads(serve.cli("bodo-versions", "--json").stdout)
    assert listed == ([{"version": have, "default": True, "provider": "local"}] if have
                      else [])
    r = serve.cli("bodo-versions", "--provider", "local")
    assert r.returncode == 0
    assert (have in r.stdout and "yes" in r.stdout) if have else "No Bodo versions" in r.stdout
    one_line_error(serve.cli("cluster", "create", "ok", "-t", "local.small",
                             "--bodo-version", "1999.1"),
                   "error: --bodo-version: local clusters run the bodo installed"
                   if have else "error: --bodo-version: bodo is not installed")
    one_line_error(serve.cli("cluster", "create", "ok", "-t", "local.small",
                             "--bodo-version", "$(id)"), "error: --bodo-version")
    names = [c["name"] for c in json.loads(serve.cli("cluster", "list", "--json", "--all").stdout)]
    assert "ok" not in names


@pytest.mark.parametrize(("args", "needles"), [
    (["cluster", "create", "Bad_Name", "-t", "local.medium"], ["'Bad_Name' is invalid"]),
    (["cluster", "create", "ok", "-t", "local.huge"], ["unknown instance type 'local.huge'",
                                                       "local.medium"]),
    (["cluster", "create", "ok", "-t", "local.small", "-n", "0"], ["at least 1"]),
    (["cluster", "create", "ok", "-t", "local.small", "-n", "99"], ["at most 8"]),
    (["cluster", "create", "ok", "-t", "local.small", "--efa"], ["does not support EFA"]),
    (["cluster", "create", "ok", "-t", "local.small", "--provider", "gcp"],
     ["unknown provider 'gcp'"]),
    (["cluster", "show", "nope"], ["cluster 'nope' not found"]),
    (["cluster", "delete", "nope"], ["cluster 'nope' not found"]),
    (["task", "show", "t-000000000000"], ["task 't-000000000000' not found"]),
    (["task", "list", "--status", "DONE"], ["error: --status: unknown status 'DONE'"]),
    # Errors the server finds come back under the flag the user typed.
    (["cluster", "create", "ok", "-t", "local.huge"], ["error: --instance-type: unknown"]),
    (["job", "create", "j", "--cluster", "nope", "--command", "x.py", "--path",
      "https://h.example/o/r"], ["error: --cluster 'nope' not found"]),
    (["job", "create", "j", "-t", "local.small", "--bodo-version", "1999.1", "--command",
      "x.py", "--path", "https://h.example/o/r"], ["error: --bodo-version: "]),
    (["job", "create", "j", "--cluster", "nope", "--command", "x.py", "--path",
      "https://h.example/o/r", "--env", "OMPI_X=1"],
     ["error: --env OMPI_X: the name OMPI_X is reserved by the platform"]),
    (["job", "create", "j", "--cluster", "nope", "--command", "x.py", "--path",
      "https://h.example/o/r", "--cron", "0 0 31 2 *"],
     ["error: --cron: invalid cron expression '0 0 31 2 *': no date ever has"]),
])
def test_bad_input_is_one_clear_line(serve: Serve, args, needles):
    one_line_error(serve.cli(*args), *needles)
    # ...and leaves nothing behind.
    names = [c["name"] for c in json.loads(serve.cli("cluster", "list", "--json", "--all").stdout)]
    assert "ok" not in names and "Bad_Name" not in names


def test_connection_and_auth_errors(serve: Serve):
    one_line_error(serve.cli("cluster", "list", env={"BODO_JUPYTER_TOKEN": "wrong"}),
                   "invalid API token")
    one_line_error(serve.cli("cluster", "list",
                             env={"BODO_JUPYTER_URL": "http://127.0.0.1:9/bodo/api/v1"}),
                   "cannot reach the control plane at http://127.0.0.1:9/bodo/api/v1")
    # A URL without the API's path says which URL was meant, before any request.
    host = serve.url.removesuffix("/bodo/api/v1")
    one_line_error(serve.cli("cluster", "list", env={"BODO_JUPYTER_URL": host}),
                   f"did you mean {host}/bodo/api/v1?")


def test_discovers_the_running_control_plane_without_env(serve: Serve):
    """No URL or token given: the CLI reads the running control plane's runtime file."""
    env = {"BODO_JUPYTER_URL": "", "BODO_JUPYTER_TOKEN": "",
           "BODO_JUPYTER_DATA_DIR": str(serve.data_dir)}
    full = {**os.environ, **env}
    full.pop("BODO_JUPYTER_URL")
    full.pop("BODO_JUPYTER_TOKEN")
    r = subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", "info", "--json"], env=full,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["url"] == serve.url
    full["BODO_JUPYTER_DATA_DIR"] = str(serve.data_dir / "elsewhere")
    r = subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", "info"], env=full,
                       capture_output=True, text=True, timeout=60)
    one_line_error(r, "no bodo-jupyter control plane found")


def test_wait_exits_nonzero_when_the_task_fails(tmp_path):
    (tmp_path / "bodo_jupyter_config.py").write_text(
        "c.LocalProvider.mpiexec_args = ['--no-such-option']\n")
    s = Serve(tmp_path).start()
    try:
        r = s.cli("cluster", "create", "doomed", "-t", "local.small", "--wait")
        one_line_error(r, "cluster.create FAILED", "mpiexec -n 1 exited",
                       "bodo-jupyter task show")
    finally:
        s.shut_down()


def test_serve_refuses_a_second_control_plane(serve: Serve):
    other = Serve(serve.data_dir)
    r = subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", "serve", "--port", "0"],
                       env=other.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "a control plane already runs for this data directory" in r.stderr
    assert f"pid {serve.proc.pid}" in r.stderr and "Traceback" not in r.stderr


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run the CLI with a pseudo-terminal as stdout, as a person at a shell would."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bodo_jupyter.cli", *args],
                            stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
                            env={**env, "TERM": "xterm", "COLUMNS": "120"})
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(10)
    os.close(master)
    assert proc.returncode == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


@pytest.mark.mpi
def test_wait_shows_a_progress_bar_in_a_terminal(serve: Serve):
    text = run_in_terminal(["cluster", "create", "tty-demo", "-t", "local.small", "-n", "2",
                            "--wait"], serve.client_env())
    assert "━" in text and "100%" in text  # rich's bar, filled
    assert "FINISHED" in text and "Cluster tty-demo is" in text
    r = serve.cli("cluster", "delete", "tty-demo", "--wait")
    assert r.returncode == 0, r.stderr
    assert_no_cluster_processes(serve.plane_id)
