"""Notebooks for real: a Jupyter server with the extension, kernels started
through it, `%bodo attach` and the `%%px` family on every MPI rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bodo_jupyter.platform.user_env import secrets_in

from .helpers import Serve, assert_no_cluster_processes
from .jupyter import JUPYTER_TOKEN, JupyterServer
from .test_no_platform_secret import PLATFORM_SECRETS

pytestmark = pytest.mark.mpi


def cli(api: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BODO_JUPYTER_URL": api, "BODO_JUPYTER_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "bodo_jupyter.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_attach_and_px_in_a_kernel(tmp_path):
    # The server (and the control plane in it) holds the platform's secrets; a %%px
    # cell that prints its environment on every rank finds none of them.
    server = JupyterServer(tmp_path / "nb", tmp_path / "data", env=PLATFORM_SECRETS).start()
    try:
        # The API lives under the Jupyter server, behind its own authentication.
        status, info = server.call("GET", "")
        assert status == 200 and info["providers"][0]["name"] == "local"
        status, err = server.call("GET", "/clusters", token=None)
        assert status == 403 and err["error"]["code"] == "forbidden"
        status, err = server.call("GET", "/nowhere")
        assert status == 404 and "no API route" in err["error"]["message"]

        # A cluster created from the CLI...
        r = cli(server.api, JUPYTER_TOKEN, "cluster", "create", "nb-demo", "-t", "local.medium",
                "-n", "2", "--wait")
        assert r.returncode == 0, r.stderr

        # ...is attachable from a notebook, with no URL or token typed by the user.
        kernel = server.start_kernel()
        cells = server.run(
            kernel,
            "%load_ext bodo_jupyter\n%bodo attach nb-demo",
            "%%px\nfrom mpi4py import MPI\n"
            "print('rank', MPI.COMM_WORLD.rank, 'of', MPI.COMM_WORLD.size)",
            "%%px\nimport json, os\nprint('ENV', json.dumps(dict(os.environ)))",
            "%bodo status",
            "%autopx",
            "square = MPI.COMM_WORLD.rank ** 2",
            "%autopx",
            "%px print('square', square)",
            "%bodo detach",
            "%px 1",
        )
        attach, px, env, status_, auto_on, auto_cell, _auto_off, pulled, detach, after = cells
        assert attach["error"] is None, attach
        assert "Attached to cluster nb-demo: 4 MPI ranks" in attach["stdout"]
        assert px["error"] is None, px
        text = px["stdout"] + "".join(px["results"])
        for rank in range(4):
            assert f"rank {rank} of 4" in text, text
        envs = [json.loads(line.split("ENV ", 1)[1]) for line in
                (env["stdout"] + "".join(env["results"])).splitlines() if "ENV {" in line]
        assert len(envs) == 4 and all(e.get("HOME") for e in envs), env
        for e in envs:
            assert not secrets_in(e, PLATFORM_SECRETS.values()), secrets_in(
                e, PLATFORM_SECRETS.values())
        assert "4/4 ranks registered" in status_["stdout"]
        assert "%autopx enabled" in auto_on["stdout"] and auto_cell["error"] is None
        ptext = pulled["stdout"] + "".join(pulled["results"])
        for rank in range(4):
            assert f"square {rank * rank}" in ptext, ptext
        assert "Detached from cluster nb-demo" in detach["stdout"]
        assert after["reply"] == "error"
        assert "not attached to a cluster" in (after["error"] or after["stderr"]), after

        # And the other way round: made in the notebook, seen by the CLI.
        made, attached = server.run(
            kernel,
            "from bodo_jupyter.sdk import Platform\n"
            "c = Platform().clusters.create('from-nb', 'local.small', 1, wait=True)\n"
            "print(c.status)",
            "import bodo_jupyter\nrc = bodo_jupyter.attach('from-nb')\nprint(rc.ids)",
        )
        assert "RUNNING" in made["stdout"], made
        assert "[0]" in attached["stdout"], attached
        listed = json.loads(cli(server.api, JUPYTER_TOKEN, "cluster", "list", "--json").stdout)
        assert {c["name"]: c["status"] for c in listed} == {"nb-demo": "RUNNING",
                                                           "from-nb": "RUNNING"}
        for name in ("nb-demo", "from-nb"):
            r = cli(server.api, JUPYTER_TOKEN, "cluster", "delete", name, "--wait")
            assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        server.shut_down()


def test_extension_forwards_to_a_running_control_plane(tmp_path):
    """With `bodo-jupyter serve` already running, Jupyter forwards instead of competing."""
    data = tmp_path / "data"
    serve = Serve(data).start()
    server = JupyterServer(tmp_path / "nb", data).start()
    try:
        assert server.call("GET", "")[0] == 200
        status, out = server.call("POST", "/clusters", {"name": "Bad!",
                                                        "instance_type": "local.small"})
        assert status == 400 and out["error"]["field"] == "name"
        assert "'Bad!'" in out["error"]["message"], out  # the body went with it
        status, page = server.call("GET", "/clusters")
        assert status == 200 and page["items"] == []
        # Unauthenticated requests are refused by Jupyter before anything is forwarded.
        assert server.call("GET", "/clusters", token=None)[0] == 403
        log = server.log.read_text()
        assert "forwarding the API to the control plane" in log
        assert serve.token not in log
    finally:
        try:
            server.stop()
            serve.clean_up()
        finally:
            serve.stop()
    assert_no_cluster_processes(serve.plane_id)
