"""Jobs on local clusters: ``mpiexec -n <CORE_COUNT> python <command>`` on this machine,
under a supervisor in a session of its own (tagged like the cluster's processes),
so a run outlives a restart of the control plane and is found again after it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import ProvisionError
from ..files import write_private
from ..jobs.backend import JobBackend
from ..run_as import RunAs, own_dir
from ..user_env import user_env
from . import processes
from .base import ClusterSpec
from .local import TAG_CLUSTER, TAG_PLANE, LocalProvider
from .local_launch import mpiexec_argv, python_path
from .processes import ProcessRecord

SUPERVISOR = "bodo_jupyter.platform.jobs.supervise"


def supervisor_argv(*, python: str, log: Path, exit_file: Path, cwd: Path, env_file: Path,
                    run_as: RunAs | None, command: list[str]) -> list[str]:
    """The supervisor runs isolated from the job's files: ``-I`` (no PYTHONPATH, no user
    site, not the current folder on sys.path) and a folder of its own as its cwd, so a
    job's ``argparse.py`` is never the supervisor's."""
    argv = [python, "-I", "-m", SUPERVISOR, "--log", str(log), "--exit", str(exit_file),
            "--cwd", str(cwd), "--env-file", str(env_file)]
    if run_as is not None:
        argv += ["--uid", str(run_as.uid), "--gid", str(run_as.gid)]
    return [*argv, "--", *command]


class LocalJobs(JobBackend):
    provider: LocalProvider

    def workspace(self, spec: ClusterSpec, run_id: str) -> Path:
        return self.provider.org_paths(spec.org_id).job(run_id)

    def run_dir(self, spec: ClusterSpec, run_id: str) -> Path:
        return self.provider.data_dir / "runs" / run_id

    async def prepare(self, spec: ClusterSpec, run_id: str) -> RunAs | None:
        run_as = await self.provider.run_as(spec.org_id)
        await asyncio.to_thread(self.provider.flavour)  # known before command() asks

        def folders() -> None:
            own_dir(self.run_dir(spec, run_id), None)
            own_dir(self.workspace(spec, run_id), run_as)

        await asyncio.to_thread(folders)
        return run_as

    async def remove(self, spec: ClusterSpec, run_id: str) -> None:
        for folder in (self.workspace(spec, run_id), self.run_dir(spec, run_id)):
            await asyncio.to_thread(shutil.rmtree, folder, True)

    def command(self, spec: ClusterSpec, args: list[str]) -> list[str]:
        p = self.provider
        return [
            *mpiexec_argv(mpiexec=p.mpiexec, ranks=spec.core_count,
                          oversubscribe=p.oversubscribe, flavour=p.flavour(),
                          tag_output=True, extra=p.mpiexec_args),
            p.python, *args,
        ]

    async def start(self, spec: ClusterSpec, args: list[str], *, cwd: Path,
                    env: dict[str, str], log_path: Path, exit_path: Path,
                    run_id: str) -> dict[str, Any]:
        p = self.provider
        run_as = await p.run_as(spec.org_id)
        run_dir = exit_path.parent
        tags = {TAG_CLUSTER: spec.id, TAG_PLANE: p.plane_id, "BODO_JUPYTER_JOB_RUN": run_id}
        # The job's environment: the cluster's (allow-listed, no secret), then its own;
        # a PYTHONPATH of the job's comes after the platform's folders (the spawn guard,
        # the cluster's packages), never before them.
        cluster = p.cluster_env(spec, run_as)
        job_env = {**cluster, "PYTHONUNBUFFERED": "1", **tags, **env,
                   "PYTHONPATH": python_path(*cluster["PYTHONPATH"].split(os.pathsep),
                                             then=env.get("PYTHONPATH"))}
        env_file = run_dir / f"{exit_path.stem}.env.json"
        await asyncio.to_thread(write_private, env_file, json.dumps(job_env))
        argv = supervisor_argv(python=p.python, log=log_path, exit_file=exit_path, cwd=cwd,
                               env_file=env_file, run_as=run_as,
                               command=self.command(spec, args))
        # The supervisor is the platform's: it runs as the control plane's user with
        # nothing of the job's environment (which could name LD_PRELOAD=...).
        own = user_env(os.environ, keep=p.env_keep, platform={"PYTHONUNBUFFERED": "1", **tags})
        rec = await asyncio.to_thread(processes.spawn, argv, env=own, cwd=run_dir,
                                      log_path=exit_path.with_suffix(".supervisor.log"))
        return rec.to_dict()

    async def wait(self, handle: dict[str, Any], exit_path: Path,
                   timeout: float) -> int | None:
        rec = ProcessRecord.from_dict(handle)
        await processes.wait_exit(rec, timeout)
        alive = processes.leader_alive(rec)
        try:
            data = json.loads(await asyncio.to_thread(exit_path.read_text))
            return int(data["exit_code"])
        except FileNotFoundError:
            if alive:
                return None
        except (ValueError, KeyError):
            if alive:
                return None  # being written
        raise ProvisionError("the job's supervisor stopped without recording an exit code"
                             + (f": {processes.log_tail(rec.log)}" if rec.log else ""))

    async def stop(self, handle: dict[str, Any]) -> None:
        rec = ProcessRecord.from_dict(handle)
        left = await processes.stop_session_async(rec, self.provider.stop_timeout)
        if left:
            raise ProvisionError(f"could not stop job processes {left}")
