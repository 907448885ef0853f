"""The local notebook's pure builders: argv without secrets, the environment of a
standalone and of a hub server, the kernels' IPython config, the server's URL."""

from __future__ import annotations

from pathlib import Path

from bodo_jupyter.platform.notebooks.backend import ServerLaunch
from bodo_jupyter.platform.providers.local import TAG_PLANE
from bodo_jupyter.platform.providers.local_notebook_launch import (
    TAG_NOTEBOOK,
    NotebookPaths,
    kernel_config,
    notebook_env,
    server_argv,
    server_url,
)

PATHS = NotebookPaths(logs=Path("/data/local/notebooks/n-1"),
                      server=Path("/ws/org/notebook-servers/n-1"),
                      root_dir=Path("/ws/org/notebooks"))
TAGS = {TAG_NOTEBOOK: "n-1", TAG_PLANE: "p-1"}
HUB = {"JUPYTERHUB_API_TOKEN": "hubtok", "JUPYTERHUB_SERVICE_PREFIX": "/user/ann/nb/",
       "JPY_API_TOKEN": "hubtok"}


def env(server_env: dict[str, str] | None = None, cluster: str | None = "c-1") -> dict:
    return notebook_env(tags=TAGS, paths=PATHS, run_as_env={"HOME": "/ws/org/home"},
                        api_url="http://127.0.0.1:8765/bodo/api/v1", api_token="apitok",
                        server_env=server_env or {}, cluster_id=cluster,
                        url="http://127.0.0.1:9999/user/ann/nb/")


def test_standalone_argv_and_env():
    argv = server_argv(python="/py", ip="127.0.0.1", port=9999, root_dir=PATHS.root_dir,
                       hub=False)
    assert argv == ["/py", "-m", "jupyterlab", "--ip=127.0.0.1", "--port=9999",
                    "--port-retries=0", "--no-browser",
                    "--ServerApp.root_dir=/ws/org/notebooks"]
    e = env()
    assert e["JUPYTER_TOKEN_FILE"] == str(PATHS.token_file)  # the token: a file, not argv
    assert e["IPYTHONDIR"] == str(PATHS.ipython_dir)
    assert e[TAG_NOTEBOOK] == "n-1" and e[TAG_PLANE] == "p-1"
    assert e["BODO_JUPYTER_URL"].endswith("/bodo/api/v1")
    assert e["BODO_JUPYTER_TOKEN"] == "apitok"
    assert e["BODO_JUPYTER_ATTACH_CLUSTER"] == "c-1"
    assert "JUPYTERHUB_SERVICE_URL" not in e and e["HOME"] == "/ws/org/home"
    assert "BODO_JUPYTER_ATTACH_CLUSTER" not in env(cluster=None)


def test_hub_argv_and_env():
    argv = server_argv(python="/py", ip="127.0.0.1", port=9999, root_dir=PATHS.root_dir,
                       hub=True, allow_root=True)
    assert argv[1:3] == ["-m", "jupyterhub.singleuser"] and argv[-1] == "--allow-root"
    e = env(HUB)
    assert "JUPYTER_TOKEN_FILE" not in e  # the hub authenticates
    assert e["JUPYTERHUB_API_TOKEN"] == "hubtok"
    # Kernels reach the API as the server's user: with its hub token, not the plane's.
    assert e["BODO_JUPYTER_TOKEN"] == "hubtok"
    assert e["JUPYTERHUB_SERVICE_URL"] == "http://127.0.0.1:9999/user/ann/nb/"


def test_kernel_config_attaches_with_a_cluster():
    with_cluster = kernel_config("c-0123456789ab")
    assert "c.InteractiveShellApp.extensions = ['bodo_jupyter']" in with_cluster
    assert "%bodo attach c-0123456789ab" in with_cluster
    compile(with_cluster, "ipython_kernel_config.py", "exec")
    without = kernel_config(None)
    assert "bodo_jupyter" in without and "attach" not in without


def test_server_url():
    assert server_url("127.0.0.1", 8888, {}) == "http://127.0.0.1:8888/"
    assert server_url("127.0.0.1", 8888, {"JUPYTERHUB_SERVICE_PREFIX": "user/a/b"}) == \
        "http://127.0.0.1:8888/user/a/b/"
    assert server_url("::1", 8888, {}) == "http://[::1]:8888/"


def test_server_launch_repr_hides_secrets():
    launch = ServerLaunch(token="tok-secret", server_env=HUB, api_url="http://x",
                          api_token="api-secret")
    text = repr(launch)
    assert launch.hub and "tok-secret" not in text and "hubtok" not in text
    assert "api-secret" not in text
