"""Pure builders for local notebooks: the server's argv, environment, paths and the
IPython configuration that starts its kernels attached. Nothing here starts a
process, so all of it is tested without Jupyter."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TAG_NOTEBOOK = "BODO_JUPYTER_NOTEBOOK_ID"

#: What a standalone server runs, and what a server behind a hub runs.
STANDALONE_MODULE = "jupyterlab"
HUB_MODULE = "jupyterhub.singleuser"


@dataclass(frozen=True)
class NotebookPaths:
    """Where a local notebook's files are.

    ``logs`` is the control plane's own (0700): the server's log. ``server`` is the
    organisation's (0700, its OS user): the server's token file, runtime folder and
    IPython folder. ``root_dir`` is the organisation's notebooks folder, shared by its
    notebooks: what the server shows, and where notebooks are saved (they stay when a
    notebook is deleted).
    """

    logs: Path
    server: Path
    root_dir: Path

    @property
    def log(self) -> Path:
        return self.logs / "server.log"

    @property
    def token_file(self) -> Path:
        return self.server / "token"

    @property
    def runtime_dir(self) -> Path:
        return self.server / "runtime"

    @property
    def ipython_dir(self) -> Path:
        return self.server / "ipython"

    @property
    def kernel_config(self) -> Path:
        return self.ipython_dir / "profile_default" / "ipython_kernel_config.py"


def server_argv(*, python: str, ip: str, port: int, root_dir: os.PathLike[str] | str,
                hub: bool, allow_root: bool = False, shell: str = "") -> list[str]:
    """``python -m jupyterlab`` (or ``jupyterhub.singleuser`` behind a hub) on one port
    (no retries: the port is the one recorded), no browser, the organisation's folder.
    The token is never on the command line: it comes from ``JUPYTER_TOKEN_FILE``, or
    behind a hub from the hub itself."""
    argv = [python, "-m", HUB_MODULE if hub else STANDALONE_MODULE,
            f"--ip={ip}", f"--port={port}", "--port-retries=0", "--no-browser",
            f"--ServerApp.root_dir={os.fspath(root_dir)}"]
    if shell:
        # Named, so terminals are not login shells (which reset PATH from /etc/profile
        # when the server's output is not a terminal) and find the platform's commands.
        argv.append(f"--ServerApp.terminado_settings=shell_command={shell}")
    if allow_root:
        argv.append("--allow-root")
    return argv


def kernel_config(cluster_id: str | None) -> str:
    """The IPython kernel configuration of a notebook's server: the bodo_jupyter magics
    loaded, and with a cluster, attached to it before the first cell runs."""
    lines = ["# Written by bodo-jupyter for this notebook's kernels; rewritten at each start.",
             "c = get_config()  # noqa: F821", "",
             "c.InteractiveShellApp.extensions = ['bodo_jupyter']"]
    if cluster_id:
        lines.append(f"c.InteractiveShellApp.exec_lines = [{f'%bodo attach {cluster_id}'!r}]")
    return "\n".join(lines) + "\n"


def notebook_env(*, tags: Mapping[str, str], paths: NotebookPaths,
                 run_as_env: Mapping[str, str], api_url: str | None, api_token: str | None,
                 server_env: Mapping[str, str], cluster_id: str | None, url: str,
                 extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the platform sets for a notebook's server (on top of the allow-listed part
    of the control plane's environment, see ``user_env``): ``tags`` (the notebook's and
    the control plane's ids, which teardown and the orphan sweep look for), its folders, where
    kernels reach the API, and either the token file (standalone) or the hub's
    environment (behind a hub, where the API token is the server's hub token). Behind a
    hub, ``JUPYTERHUB_SERVICE_URL`` is where the node put the server (``url``), whatever
    the spawner guessed: the spawner learns the address from the notebook."""
    env: dict[str, str] = {
        **run_as_env,
        **(extra or {}),
        "PYTHONUNBUFFERED": "1",
        "IPYTHONDIR": str(paths.ipython_dir),
        "JUPYTER_RUNTIME_DIR": str(paths.runtime_dir),
        **tags,
    }
    if cluster_id:
        env["BODO_JUPYTER_ATTACH_CLUSTER"] = cluster_id
    if server_env:
        env.update(server_env)
        env["JUPYTERHUB_SERVICE_URL"] = url
        api_token = server_env.get("JUPYTERHUB_API_TOKEN") or api_token
    else:
        env["JUPYTER_TOKEN_FILE"] = str(paths.token_file)
    if api_url:
        env["BODO_JUPYTER_URL"] = api_url
        if api_token:
            env["BODO_JUPYTER_TOKEN"] = api_token
    return env


def server_url(ip: str, port: int, server_env: Mapping[str, str]) -> str:
    """The server's base URL, ending in ``/`` (behind a hub: under its service prefix)."""
    prefix = server_env.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    if not prefix.endswith("/"):
        prefix += "/"
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{port}{prefix}"
