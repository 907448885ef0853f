"""Organisations isolated below the API, on the local provider.

As root, each organisation's engines, jobs and fetches run as an OS user of its
own. Here a second organisation's job tries, as an attacker would, to read
what belongs to the first or to the control plane: the database and its key,
the first organisation's job logs, workspace, cluster connection files, and
the environments of its processes. Every attempt is refused by the kernel;
and the same probe reads its own files, so the test cannot pass by probing
nothing. Without root, the local provider serves one organisation and refuses
a second with a message saying why.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from traitlets.config import Config

from bodo_jupyter.contract.models import CreateClusterRequest, CreateJobRequest
from bodo_jupyter.platform.errors import PlatformError
from bodo_jupyter.platform.identity import Identity
from bodo_jupyter.platform.providers.local import TAG_CLUSTER
from bodo_jupyter.platform.service import ControlPlane

from .git_server import GitServer
from .helpers import assert_no_cluster_processes, track

pytestmark = pytest.mark.mpi

PASSWORD = "isolation-git-pw-0123"
# Rank 0 tries every target and prints one line per target: READ, denied or missing.
PROBE = """import json, os
from mpi4py import MPI
if MPI.COMM_WORLD.rank == 0:
    probe = json.loads(os.environ["PROBE"])
    for target in probe["files"]:
        try:
            if os.path.isdir(target):
                os.listdir(target)
            else:
                with open(target, "rb") as f:
                    f.read(1)
            result = "READ"
        except PermissionError:
            result = "denied"
        except FileNotFoundError:
            result = "missing"
        print("PROBE", result, target, flush=True)
    print("WHOAMI", os.getuid(), flush=True)
"""
# What an attacker's job runs while the other organisation's cluster is up.
NEW_CLUSTER = {"instance_type": "local.small", "instances": 1}
FILES = {"hello.py": "print('hello from', __import__('os').getuid())\n", "probe.py": PROBE}


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"), "ann", PASSWORD).start()
    server.create_repo("acme", "jobs", {"main": FILES})
    yield server
    server.stop()


def config(git: GitServer, isolation: str = "auto") -> Config:
    c = Config()
    c.SourceFetcher.git_ca_file = str(git.cert)
    c.SourceFetcher.allowed_hosts = ["127.0.0.1"]
    c.LocalProvider.isolation = isolation
    return c


async def wait_task(plane: ControlPlane, ident: Identity, task_id: str,
                    timeout: float = 120) -> dict[str, Any]:
    """Until the task ends, woken by its changes (``timeout`` only bounds a failure)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    since = 0
    while True:
        task = await plane.tasks.watch(ident, task_id, since, min(5.0, deadline - loop.time()))
        if task["status"] in ("FINISHED", "FAILED", "CANCELLED"):
            return plane.tasks.get(ident, task_id)
        since = max([since, *(e["seq"] for e in task["events"])])
        if loop.time() > deadline:
            raise AssertionError(f"task {task_id} still {task['status']}")


async def run_job(plane: ControlPlane, ident: Identity, git: GitServer, name: str,
                  command: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    job = await plane.jobs.create(ident, CreateJobRequest.parse({
        "name": name, "command": command, "cluster": NEW_CLUSTER,
        "path": f"{git.url}/acme/jobs", "git_username": "ann", "git_password": PASSWORD,
        "env": env or {}}))
    run = job["last_run"]
    task = await wait_task(plane, ident, run["task_id"])
    assert task["status"] == "FINISHED", task
    text = (await plane.jobs.logs(ident, name, run["id"], 0, 0))["text"]
    return run, text


async def delete_clusters(plane: ControlPlane, *idents: Identity) -> None:
    """What a failed test left running, deleted before the plane stops (a stop of the
    control plane leaves clusters running, by design)."""
    for ident in idents:
        for c in plane.clusters.list(ident)["items"]:
            if c["status"] != "STOPPING":
                _, task = await plane.clusters.delete(ident, c["id"])
                await wait_task(plane, ident, task["id"])


def processes_of(cluster_id: str) -> list[int]:
    pids = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(TAG_CLUSTER) == cluster_id:
                pids.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return pids


@pytest.mark.skipif(os.geteuid() != 0, reason="OS users per organisation need root")
def test_a_second_organisation_cannot_read_the_first_or_the_control_plane(tmp_path, git):
    async def main() -> None:
        plane = track(ControlPlane(data_dir=str(tmp_path / "data"), config=config(git)))
        await plane.start()
        ann = plane.ensure_user("ann", "acme")
        eve = plane.ensure_user("eve", "evil-corp")
        try:
            # The first organisation: a running cluster and a job that ran (log, files).
            cluster, task, _ = await plane.clusters.create(ann, CreateClusterRequest.parse(
                {"name": "ann-c", "instance_type": "local.small", "instances": 1}))
            assert (await wait_task(plane, ann, task["id"]))["status"] == "FINISHED"
            ann_run, ann_log = await run_job(plane, ann, git, "ann-job", "hello.py")
            local = plane.providers["local"]
            ann_paths = local.org_paths(ann.org_id)
            ann_pids = processes_of(cluster["id"])
            assert ann_pids, "the first organisation's cluster has processes"
            log_file = plane.job_logs.path(ann.org_id, ann_run["job_id"], ann_run["id"])
            profile = ann_paths.profile(cluster["id"])
            targets = {
                "database": plane.path / "bodo-jupyter.sqlite",
                "secret key": plane.path / "secret.key",
                "data dir": plane.path,
                "job logs": plane.job_logs.root,
                "ann's job log": log_file,
                "ann's folder": ann_paths.root,
                "ann's home": ann_paths.home,
                "ann's shared folder": ann_paths.shared,
                "ann's connection file": next((profile / "security").glob("*-client.json")),
                "ann's profile": profile,
                "ann's engine logs": local.data_dir / "clusters" / cluster["id"],
                **{f"environ of ann's pid {pid}": Path(f"/proc/{pid}/environ")
                   for pid in ann_pids},
                "environ of the control plane": Path(f"/proc/{os.getpid()}/environ"),
            }
            for what, path in targets.items():
                if "environ" not in what:
                    assert path.exists(), (what, path)  # the probe is of something real
            # The attacker's own run: its own workspace is readable (the probe works).
            own = "./probe.py"
            probe = {"files": [str(p) for p in targets.values()] + [own]}
            _run, text = await run_job(plane, eve, git, "probe", "probe.py",
                                      env={"PROBE": json.dumps(probe)})
            results = {}
            for line in text.splitlines():
                body = line.partition("] ")[2] if line.startswith("[rank") else line
                if body.startswith("PROBE "):
                    _, result, target = body.split(" ", 2)
                    results[target] = result
            assert results.get(own) == "READ", text
            read = {what: str(p) for what, p in targets.items() if results.get(str(p)) != "denied"}
            assert not read, f"the second organisation could read: {read}\n{text}"
            uids = {line.split()[-1] for line in text.splitlines() if "WHOAMI" in line}
            assert uids and uids != {"0"} and str(os.getuid()) not in uids, text
            # Each organisation's work ran as its own user.
            assert f"hello from {uids.pop()}" not in ann_log, ann_log
        finally:
            await delete_clusters(plane, ann, eve)
            await plane.stop()
        assert_no_cluster_processes(plane.plane_id)

    asyncio.run(main())


def test_without_os_users_a_second_organisation_is_refused(tmp_path, git):
    """isolation='none' (what a non-root install gets): the first organisation to use
    the local provider has it; a second gets a 403 that says why, and nothing is made."""
    async def main() -> None:
        plane = track(ControlPlane(data_dir=str(tmp_path / "data"),
                                   config=config(git, isolation="none")))
        await plane.start()
        ann = plane.ensure_user("ann", "acme")
        eve = plane.ensure_user("eve", "evil-corp")
        try:
            _cluster, task, _ = await plane.clusters.create(ann, CreateClusterRequest.parse(
                {"name": "ann-c", "instance_type": "local.small", "instances": 1}))
            assert (await wait_task(plane, ann, task["id"]))["status"] == "FINISHED"
            for attempt in (
                plane.clusters.create(eve, CreateClusterRequest.parse(
                    {"name": "eve-c", "instance_type": "local.small", "instances": 1})),
                plane.jobs.create(eve, CreateJobRequest.parse({
                    "name": "eve-job", "command": "hello.py", "cluster": NEW_CLUSTER,
                    "path": f"{git.url}/acme/jobs"})),
            ):
                with pytest.raises(PlatformError) as err:
                    await attempt
                assert (err.value.status, err.value.code) == (403, "single_organization")
                assert "single organisation" in err.value.message, err.value.message
            assert [c["name"] for c in plane.clusters.list(eve)["items"]] == []
            assert plane.jobs.list(eve)["items"] == []
        finally:
            await delete_clusters(plane, ann, eve)
            await plane.stop()
        assert_no_cluster_processes(plane.plane_id)

    asyncio.run(main())
