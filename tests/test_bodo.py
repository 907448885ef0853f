"""Bodo on local clusters, with the real bodo package: a ``%%px`` cell and a job from Git
run a ``@bodo.jit`` groupby SPMD (``BODO_SPAWN_MODE=0``, set by the platform) on 4 MPI
ranks, the data made inside the jit function, the result distributed: each rank holds
its own groups, none holds them all."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest

from bodo_jupyter.sdk import Platform

from .git_server import GitServer
from .helpers import Serve

pytestmark = [pytest.mark.mpi, pytest.mark.bodo, pytest.mark.slow]

if not os.environ.get("BODO_JUPYTER_REQUIRE_BODO"):  # scripts/test installs it: never skip
    pytest.importorskip("bodo", reason="the bodo extra is not installed "
                        "(pip install -e '.[bodo]')")

TOKEN = "bodo-test-token"
ROWS = 100_000
KEYS = 7

# The same code as a cell and as a job: the data is made inside the jit function, so
# each rank makes only its part of it.
GROUPBY = f"""
import numpy as np
import pandas as pd
import bodo


@bodo.jit
def groupby(n):
    i = np.arange(n)
    df = pd.DataFrame({{"k": i % {KEYS}, "v": i}})
    return df.groupby("k", as_index=False)["v"].sum()


part = groupby({ROWS})
keys = sorted(int(k) for k in part["k"])
local_sum = int(part["v"].sum())
rank, size = bodo.get_rank(), bodo.get_size()
"""
JOB = GROUPBY + """
import os
print(f"rank {rank} of {size} keys {keys} sum {local_sum} "
      f"spawn {os.environ.get('BODO_SPAWN_MODE')}")
"""
TOTAL = ROWS * (ROWS - 1) // 2


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "alice", TOKEN).start()
    server.create_repo("acme", "bodo", {"main": {"groupby.py": JOB}})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, git: GitServer) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("bodo-plane")
    (data / "bodo_jupyter_config.py").write_text(git.plane_config())
    s = Serve(data).start()
    _, out = s.http("POST", "/clusters", {"name": "bodo", "instance_type": "local.medium",
                                           "instances": 2})
    assert s.wait_task(out["task"]["id"])["status"] == "FINISHED"
    try:
        yield s
    finally:
        s.shut_down()


def check_distributed(keys: list[list[int]], sums: list[int]) -> None:
    """Every group on exactly one rank, the sums adding up to the whole."""
    assert sorted(k for ks in keys for k in ks) == list(range(KEYS)), keys
    assert sum(sums) == TOTAL, sums
    assert max(len(ks) for ks in keys) < KEYS, f"a rank holds every group: {keys}"


def test_px_cell_runs_a_bodo_groupby_spmd_distributed(plane):
    with Platform(plane.url, plane.token) as p:
        rc = p.clusters.get("bodo").attach()
    try:
        view = rc[:]
        # What %%px sends: the cell's code, run on every rank.
        view.execute(GROUPBY, block=True)
        assert view.pull("size", block=True) == [4, 4, 4, 4]
        assert view.pull("rank", block=True) == [0, 1, 2, 3]
        check_distributed(view.pull("keys", block=True), view.pull("local_sum", block=True))
        view.execute("import os; mode = os.environ.get('BODO_SPAWN_MODE')", block=True)
        assert view.pull("mode", block=True) == ["0"] * 4
    finally:
        rc.close()


def test_spawn_mode_in_a_cell_is_refused_at_once_and_the_cluster_lives_on(plane):
    import ipyparallel as ipp

    with Platform(plane.url, plane.token) as p:
        rc = p.clusters.get("bodo").attach()
    try:
        view = rc[:]
        started = time.monotonic()
        with pytest.raises(ipp.error.CompositeError) as e:
            view.execute("import bodo\n"
                         "@bodo.jit(spawn=True)\n"
                         "def f(n):\n    return n + 1\n"
                         "f(1)\n", block=False).get(timeout=60)
        assert time.monotonic() - started < 30
        assert len(e.value.elist) == 4  # every rank, at once, before any collective call
        assert all(err[0] == "SpawnModeRefused" for err in e.value.elist), e.value.elist
        assert "Drop spawn=True" in str(e.value.elist[0][1])
        # The engines are fine: the next cell runs on all ranks.
        view.execute("from mpi4py import MPI; n = MPI.COMM_WORLD.allreduce(1)", block=True)
        assert view.pull("n", block=True) == [4] * 4
    finally:
        rc.close()


def test_the_same_code_as_a_job_from_git_with_rank_prefixed_logs(plane, git):
    status, job = plane.http("POST", "/jobs", {
        "name": "bodo-groupby", "cluster": "bodo", "command": "groupby.py",
        "path": f"{git.url}/acme/bodo", "git_username": "alice", "git_password": TOKEN})
    assert status == 201, job
    plane.wait_task(job["last_run"]["task_id"], timeout=240)
    status, run = plane.http("GET", f"/jobs/{job['id']}/runs/{job['last_run']['id']}")
    _, out = plane.http("GET", f"/jobs/{job['id']}/runs/latest/logs")
    text = out["text"]
    assert run["status"] == "FINISHED" and run["exit_code"] == 0, (run, text)
    assert "-prepend-pattern \\x1e%r\\x1f" in run["command_line"], run["command_line"]
    found = {}
    for m in re.finditer(r"^\[rank (\d)\] rank (\d) of 4 keys \[([\d, ]*)\] sum (\d+) "
                         r"spawn (\S+)$", text, re.M):
        assert m.group(1) == m.group(2) and m.group(5) == "0", m.group(0)
        found[int(m.group(1))] = ([int(k) for k in m.group(3).split(",") if k.strip()],
                                  int(m.group(4)))
    assert sorted(found) == [0, 1, 2, 3], text
    check_distributed([found[r][0] for r in range(4)], [found[r][1] for r in range(4)])
    assert "[platform] exit code 0" in text
