"""Jobs on local clusters: ``mpiexec -n <CORE_COUNT> python <command>`` on this machine,
under a supervisor in a session of its own (tagged like the cluster's processes),
so a run outlives a restart of the control plane and is found again after it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ..errors import ProvisionError
from ..jobs.backend import JobBackend
from . import processes
from .base import ClusterSpec
from .local import TAG_CLUSTER, TAG_PLANE, LocalProvider
from .local_launch import mpiexec_argv
from .processes import ProcessRecord


class LocalJobs(JobBackend):
    provider: LocalProvider

    def workspace(self, spec: ClusterSpec, run_id: str) -> Path:
        return self.provider.data_dir / "jobs" / run_id

    def command(self, spec: ClusterSpec, args: list[str]) -> list[str]:
        p = self.provider
        return [
            *mpiexec_argv(mpiexec=p.mpiexec, ranks=spec.core_count,
                          oversubscribe=p.oversubscribe,
                          extra=[*p.mpiexec_args, "--output", "tag"]),
            p.python, *args,
        ]

    async def start(self, spec: ClusterSpec, args: list[str], *, cwd: Path,
                    env: dict[str, str], log_path: Path, exit_path: Path,
                    run_id: str) -> dict[str, Any]:
        p = self.provider
        argv = [p.python, "-m", "bodo_jupyter.platform.jobs.supervise",
                "--log", str(log_path), "--exit", str(exit_path), "--",
                *self.command(spec, args)]
        full_env = p.cluster_env(spec)
        full_env.update(env)
        full_env.update({"PYTHONUNBUFFERED": "1", "BODO_JUPYTER_JOB_RUN": run_id,
                         TAG_CLUSTER: spec.id, TAG_PLANE: p.plane_id})
        rec = await asyncio.to_thread(processes.spawn, argv, env=full_env, cwd=cwd,
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
