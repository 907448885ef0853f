"""%ppip and %psh for real: a control plane (as root, the organisation's engines run as an
OS user of its own that cannot write the environment), a Jupyter server forwarding to
it, a kernel attached to a 4-rank local cluster, pip installing wheels built here
(offline: --no-index --find-links), and a job from Git on the same cluster that
imports what %ppip installed."""

from __future__ import annotations

import json
import os
import pwd
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bodo_jupyter
from bodo_jupyter.platform.user_env import secrets_in

from .git_server import GitServer
from .helpers import Serve, build_wheel
from .jupyter import JupyterServer
from .test_no_platform_secret import PLATFORM_SECRETS

pytestmark = pytest.mark.mpi

GIT_TOKEN = "magics-git-token"
# As root, an organisation's engines run as its own OS user (bodo-<org id>).
ORG_USER = "bodo-" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
PKG = "bjtiny"
# The test's own bodo_jupyter, for the job (the job's PYTHONPATH comes after the
# platform's folders, so it adds this one without hiding the packages folder).
ROOT = str(Path(bodo_jupyter.__file__).resolve().parents[1])
JOB = f"""import os, sys
from mpi4py import MPI
import {PKG}
import bodo_jupyter
packages = os.environ["BODO_JUPYTER_PACKAGES_DIR"]
print("job", MPI.COMM_WORLD.rank, {PKG}.VERSION, {PKG}.__file__.startswith(packages + "/"),
      sys.path.index(packages) < sys.path.index({ROOT!r}), bodo_jupyter.shared_dir(),
      flush=True)
"""


@pytest.fixture(scope="module")
def wheels() -> Path:
    """Two versions of a tiny package, in a folder the organisation's OS user can read."""
    folder = Path(tempfile.mkdtemp(prefix="wheels-", dir=os.environ["BODO_JUPYTER_WORKSPACES"]))
    os.chmod(folder, 0o755)
    for version in ("1.0", "2.0"):
        build_wheel(folder, PKG, version)
    return folder


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "alice", GIT_TOKEN).start()
    server.create_repo("acme", "uses-ppip", {"main": {"job.py": JOB}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, git: GitServer
          ) -> Iterator[tuple[Serve, JupyterServer]]:
    data = tmp_path_factory.mktemp("magics-plane")
    (data / "bodo_jupyter_config.py").write_text(git.plane_config())
    # The control plane holds the platform's secrets; engines and %psh see none of them.
    plane = Serve(data, env=PLATFORM_SECRETS).start()
    server = JupyterServer(tmp_path_factory.mktemp("nb"), data).start()
    try:
        _, out = plane.http("POST", "/clusters", {"name": "magics",
                                                   "instance_type": "local.medium",
                                                   "instances": 2})
        assert plane.wait_task(out["task"]["id"])["status"] == "FINISHED"
        yield plane, server
    finally:
        try:
            server.stop()
        finally:
            plane.shut_down()


@pytest.fixture(scope="module")
def kernel(setup: tuple[Serve, JupyterServer]) -> str:
    _, server = setup
    k = server.start_kernel()
    [attach] = server.run(k, "%load_ext bodo_jupyter\n%bodo attach magics")
    assert attach["error"] is None and "4 MPI ranks" in attach["stdout"], attach
    return k


def run(setup: tuple[Serve, JupyterServer], kernel: str, *cells: str) -> list[dict[str, Any]]:
    return setup[1].run(kernel, *cells, timeout=180)


def text(cell: dict[str, Any]) -> str:
    return cell["stdout"] + "".join(cell["results"])


def usage_error(cell: dict[str, Any]) -> str:
    """What IPython showed of a UsageError (a line on stderr, no traceback)."""
    assert cell["reply"] == "error" and cell["error"] is None, cell
    return cell["stderr"].strip()


def test_not_attached_is_one_clear_line(setup):
    _, server = setup
    k = server.start_kernel()
    ppip, psh, usage = server.run(k, "%load_ext bodo_jupyter\n%ppip install x", "%psh ls",
                                  "%ppip download x")
    for cell, magic in ((ppip, "%ppip"), (psh, "%psh")):
        assert usage_error(cell) == (f"UsageError: {magic}: not attached to a cluster: run "
                                     "`%bodo attach NAME` first"), cell
    assert "%ppip install PACKAGE" in usage_error(usage), usage


def test_ppip_installs_once_for_every_rank_and_jobs_on_the_cluster(setup, kernel, wheels, git):
    plane, _ = setup
    find = f"--no-index --find-links {wheels}"
    install, px, owner = run(
        setup, kernel,
        f"%ppip install {find} {PKG}==1.0",
        f"%%px\nimport os, {PKG}\n"
        f"print('tiny', {PKG}.VERSION, "
        f"{PKG}.__file__.startswith(os.environ['BODO_JUPYTER_PACKAGES_DIR'] + '/'))",
        "%psh stat -c 'owner=%U' $BODO_JUPYTER_PACKAGES_DIR/" + PKG + "/__init__.py; id -un",
    )
    assert install["error"] is None, install
    out = text(install)
    assert f"Successfully installed {PKG}-1.0" in out, out  # pip's own output, in the cell
    assert "importable on all 4 ranks now" in out, out
    assert out.count("Successfully installed") == 1  # once, not once per rank
    assert px["error"] is None, px
    assert text(px).count("tiny 1.0 True") == 4, text(px)
    # pip ran as the engines' OS user (not root), which owns what it installed.
    m = re.search(r"\[node [^\]]+\] owner=(\S+)\n\[node [^\]]+\] (\S+)", text(owner))
    assert m and m.group(1) == m.group(2), text(owner)
    assert m.group(1).startswith(ORG_USER), text(owner)

    # A job on the same cluster imports it on every rank, from the packages folder, which
    # comes before the job's own PYTHONPATH; the shared folder is the engines'.
    status, job = plane.http("POST", "/jobs", {
        "name": "uses-ppip", "cluster": "magics", "command": "job.py",
        "path": f"{git.url}/acme/uses-ppip", "git_username": "alice",
        "git_password": GIT_TOKEN, "env": {"PYTHONPATH": ROOT}})
    assert status == 201, job
    plane.wait_task(job["last_run"]["task_id"], timeout=180)
    _, run_ = plane.http("GET", f"/jobs/{job['id']}/runs/{job['last_run']['id']}")
    _, log = plane.http("GET", f"/jobs/{job['id']}/runs/latest/logs")
    assert run_["status"] == "FINISHED" and run_["exit_code"] == 0, (run_, log["text"])
    [shared_cell] = run(setup, kernel, "%psh echo shared=$BODO_JUPYTER_SHARED_DIR")
    shared = text(shared_cell).split("shared=", 1)[1].strip()
    assert shared.startswith("/"), text(shared_cell)
    for rank in range(4):
        assert f"[rank {rank}] job {rank} 1.0 True True {shared}" in log["text"], log["text"]

    # A new version: pip replaces it; the ranks that imported the old one are told.
    upgrade, still = run(setup, kernel, f"%ppip install {find} {PKG}==2.0",
                         f"%px print('now', {PKG}.VERSION)")
    assert upgrade["error"] is None, upgrade
    out = text(upgrade)
    assert f"Successfully installed {PKG}-2.0" in out, out
    assert f"Note: {PKG} was imported already on ranks 0-3" in out, out
    assert "until they restart" in out
    assert text(still).count("now 1.0") == 4  # what the note says

    listed, removed, gone = run(setup, kernel, "%ppip list",
                                f"%ppip uninstall {PKG}",
                                "%psh ls -A $BODO_JUPYTER_PACKAGES_DIR | wc -l")
    assert re.search(rf"{PKG}\s+2\.0", text(listed)), text(listed)
    assert removed["error"] is None and f"Removed {PKG}-2.0" in text(removed), removed
    assert "gone on all 4 ranks" in text(removed)
    assert re.search(r"\] 0$", text(gone).strip()), text(gone)


def test_pip_failures_raise_pips_last_lines_not_a_traceback(setup, kernel, wheels):
    missing, elsewhere, nothing = run(
        setup, kernel,
        f"%ppip install --no-index --find-links {wheels} no-such-package",
        "%ppip install --target /tmp/x something",
        "%ppip uninstall no-such-package")
    assert missing["reply"] == "error"
    assert missing["error"].startswith(
        "ClusterCommandError: pip install failed on rank 0 (exit code 1):"), missing
    assert "No matching distribution found for no-such-package" in missing["error"]
    assert "No matching distribution" in missing["stdout"]  # streamed as it came
    for cell in (missing, elsewhere, nothing):
        assert "Traceback" not in cell["stderr"] + cell["stdout"], cell
    assert usage_error(elsewhere) == ("UsageError: %ppip installs into the cluster's packages "
                                      "folder: leave out --target")
    assert nothing["reply"] == "error"
    assert "not installed in the cluster's packages folder" in nothing["error"], nothing


def test_psh_runs_per_node_or_per_rank_and_reports_failures_per_rank(setup, kernel):
    node, node_fails, ranks, env = run(
        setup, kernel,
        "%psh echo user=$(id -un) cwd=$PWD",
        "%psh echo before; exit 5",
        "%psh --all-ranks r=${PMI_RANK:-$OMPI_COMM_WORLD_RANK}; echo rank $r; "
        "test $r != 2 || { echo bad >&2; exit 3; }",
        "%psh env")
    # One machine: one node, one line, as the engines' user in their working folder.
    lines = text(node).splitlines()
    assert len(lines) == 1 and re.match(rf"\[node \S+\] user={ORG_USER}\S* cwd=/", lines[0]), lines
    assert node["error"] is None
    assert re.fullmatch(r"\[node \S+\] before\n", text(node_fails)), node_fails
    assert re.fullmatch(r"ClusterCommandError: failed on 1 of 1 nodes: node \S+ \(rank 0\): "
                        r"exit code 5", node_fails["error"]), node_fails["error"]
    # Every rank ran it; rank 2's failure is reported by rank, after everyone's output.
    for rank in range(4):
        assert re.search(rf"^\[rank {rank} on \S+\] rank {rank}$", text(ranks), re.M), ranks
    assert re.search(r"^\[rank 2 on \S+\] bad$", ranks["stderr"], re.M), ranks
    assert re.fullmatch(r"ClusterCommandError: failed on 1 of 4 ranks: rank 2 on \S+: "
                        r"exit code 3", ranks["error"]), ranks["error"]
    # The engines' environment holds no platform secret.
    seen = dict(line.split("] ", 1)[1].split("=", 1) for line in text(env).splitlines()
                if "=" in line)
    assert "BODO_JUPYTER_PACKAGES_DIR" in seen and "PATH" in seen, seen
    assert seen["PYTHONPATH"].split(":")[1] == seen["BODO_JUPYTER_PACKAGES_DIR"], seen
    assert not secrets_in(seen, PLATFORM_SECRETS.values()), json.dumps(seen)
