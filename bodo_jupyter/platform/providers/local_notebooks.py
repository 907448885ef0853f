"""Notebooks on this machine: a Jupyter server per notebook, as the organisation's OS
user, in a session of its own and tagged like cluster processes, so that it outlives a
restart of the control plane and teardown and the orphan sweep always find it (its
kernels, in sessions of their own, carry the same tags)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitlets import Dict, Float

from ..errors import ProvisionError
from ..files import write_private
from ..notebooks.backend import NotebookBackend, NotebookSpec, ServerLaunch
from ..notebooks.probe import jupyter_version
from ..progress import TaskOps
from ..run_as import RunAs, own_dir
from ..user_env import user_env
from . import processes
from .base import InstanceType
from .local import TAG_PLANE, LocalProvider
from .local_notebook_launch import (
    TAG_NOTEBOOK,
    NotebookPaths,
    kernel_config,
    notebook_env,
    server_argv,
    server_url,
)
from .processes import ProcessRecord

#: The shell of notebooks' terminals, when the machine has one (else the user's /bin/sh).
BASH = shutil.which("bash") or ""

DEFAULT_NOTEBOOK_TYPES: dict[str, dict[str, Any]] = {
    "local.notebook": {"cores": 1, "memory_gib": 2,
                       "description": "A Jupyter server on this machine (runs no MPI ranks)"},
}


def free_port(ip: str) -> int:
    """A port nothing listens on now (the server gets it with --port-retries=0)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


class LocalNotebooks(NotebookBackend):
    """Jupyter servers on this machine, one per notebook."""

    provider: LocalProvider

    instance_types_config = Dict(
        DEFAULT_NOTEBOOK_TYPES, config=True,
        help="""Node shapes of local notebooks: {name: {"cores": N, "memory_gib": M,
        "description": "..."}}. A local notebook is one Jupyter server on this machine;
        the numbers are informative, not enforced.""",
    )
    ready_timeout = Float(
        60.0, config=True,
        help="Seconds a notebook's server gets to answer its readiness probe (HTTP).",
    )

    # -- shapes and places ---------------------------------------------------------

    def instance_types(self) -> list[InstanceType]:
        out = []
        for name, d in self.instance_types_config.items():
            cores = int(d.get("cores", 1))
            out.append(InstanceType(name=name, cores=cores, vcpus=int(d.get("vcpus", cores)),
                                    memory_gib=float(d.get("memory_gib", 2)), efa=False,
                                    description=d.get("description", "A notebook server")))
        return sorted(out, key=lambda t: (t.cores, t.name))

    def paths(self, spec: NotebookSpec) -> NotebookPaths:
        org = self.provider.org_paths(spec.org_id)
        return NotebookPaths(logs=self.provider.data_dir / "notebooks" / spec.id,
                             server=org.root / "notebook-servers" / spec.id,
                             root_dir=org.root / "notebooks")

    def _tags(self, spec: NotebookSpec) -> dict[str, str]:
        return {TAG_NOTEBOOK: spec.id, TAG_PLANE: self.provider.plane_id}

    # -- start ------------------------------------------------------------------------

    async def prepare(self, spec: NotebookSpec) -> None:
        await self.stop(spec, spec.details)  # nothing of an earlier attempt survives
        run_as = await self.provider.run_as(spec.org_id)
        await asyncio.to_thread(self._folders, self.paths(spec), run_as)

    def _folders(self, paths: NotebookPaths, run_as: RunAs | None) -> None:
        own_dir(self.provider.data_dir, None)
        own_dir(paths.logs.parent, None)
        own_dir(paths.logs, None)
        own_dir(paths.server.parent, run_as)
        shutil.rmtree(paths.server, ignore_errors=True)
        for folder in (paths.server, paths.runtime_dir, paths.ipython_dir,
                       paths.kernel_config.parent):
            own_dir(folder, run_as)
        if not paths.root_dir.exists():
            own_dir(paths.root_dir, run_as)

    async def start(self, spec: NotebookSpec, launch: ServerLaunch,
                    record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        p = self.provider
        run_as = await p.run_as(spec.org_id)
        paths = self.paths(spec)
        owner = (run_as.uid, run_as.gid) if run_as is not None else None

        def files() -> None:
            write_private(paths.kernel_config, kernel_config(spec.cluster_id), owner)
            if not launch.hub:
                write_private(paths.token_file, launch.token or "", owner)

        await asyncio.to_thread(files)
        port = free_port(p.ip)
        argv = server_argv(python=p.python, ip=p.ip, port=port, root_dir=paths.root_dir,
                           hub=launch.hub, allow_root=os.geteuid() == 0 and run_as is None,
                           shell=BASH or "/bin/sh")
        url = server_url(p.ip, port, launch.server_env)
        platform = notebook_env(
            tags=self._tags(spec), paths=paths,
            run_as_env=run_as.env() if run_as is not None else {},
            api_url=launch.api_url, api_token=launch.api_token,
            server_env=launch.server_env, cluster_id=spec.cluster_id, url=url,
            extra=p.extra_env)
        # Never the control plane's environment: the allow-listed part, then ours.
        env = user_env(os.environ, keep=p.env_keep, platform=platform)
        # Terminals and kernels of the notebook find the platform's own commands
        # (bodo-jupyter, jupyter, mpiexec) first, and terminals open a bash.
        env["PATH"] = os.pathsep.join([str(Path(p.python).parent),
                                       env.get("PATH") or os.defpath])
        if BASH:
            env["SHELL"] = BASH
        rec = await asyncio.to_thread(processes.spawn, argv, env=env, cwd=paths.root_dir,
                                      log_path=paths.log, run_as=run_as)
        details = {"process": rec.to_dict(), "port": port, "url": url, "log": str(paths.log),
                   "hub": launch.hub}
        record(details)
        return details

    async def wait_ready(self, spec: NotebookSpec, details: dict[str, Any],
                         ops: TaskOps) -> None:
        rec = ProcessRecord.from_dict(details["process"])
        url = details["url"] + "api"
        deadline = time.monotonic() + self.ready_timeout
        tries = 0
        while True:
            ops.check_cancelled()
            version = await asyncio.to_thread(jupyter_version, url)
            tries += 1
            if version is not None:
                ops.progress(1.0, f"{url} answered: Jupyter server {version}")
                return
            if not processes.leader_alive(rec):
                code = processes.exit_code(rec)
                how = f" with code {code}" if code is not None else ""
                tail = processes.log_tail(rec.log)
                raise ProvisionError(f"The notebook's server exited{how} before it answered"
                                     + (f": {tail}" if tail else ""))
            if time.monotonic() > deadline:
                tail = processes.log_tail(rec.log)
                raise ProvisionError(
                    f"The notebook's server did not answer {url} within "
                    f"{self.ready_timeout:g}s (LocalNotebooks.ready_timeout)"
                    + (f": {tail}" if tail else ""))
            if tries % 20 == 1:
                ops.progress(0.0, f"waiting for {url} to answer")
            await asyncio.sleep(0.1)

    # -- stop, health, sweep ---------------------------------------------------------

    async def stop(self, spec: NotebookSpec, details: dict[str, Any]) -> None:
        timeout = self.provider.stop_timeout
        if details.get("process"):
            rec = ProcessRecord.from_dict(details["process"])
            left = await processes.stop_session_async(rec, timeout)
            if left:
                raise ProvisionError(f"could not stop the server of notebook {spec.name}: "
                                     f"pids {left} survive SIGKILL")
        # Kernels lead sessions of their own; a server started but never recorded (a
        # crash in between) too. Their tag names the notebook.
        found = await asyncio.to_thread(processes.tagged_sessions, TAG_NOTEBOOK, spec.id,
                                        {TAG_PLANE: self.provider.plane_id})
        for rec in found.get(spec.id, []):
            left = await processes.stop_session_async(rec, timeout)
            if left:
                raise ProvisionError(f"could not stop processes {left} of notebook "
                                     f"{spec.name}")
        paths = self.paths(spec)
        # The server's folder holds its token: it goes. The notebooks folder stays.
        await asyncio.to_thread(shutil.rmtree, paths.server, True)

    async def remove_logs(self, spec: NotebookSpec) -> None:
        await asyncio.to_thread(shutil.rmtree, self.paths(spec).logs, True)

    async def check(self, spec: NotebookSpec, details: dict[str, Any]) -> str | None:
        if not details.get("process"):
            return "The notebook's server is not recorded"
        rec = ProcessRecord.from_dict(details["process"])
        if processes.leader_alive(rec):
            return None
        code = processes.exit_code(rec)
        how = f" with code {code}" if code is not None else ""
        tail = processes.log_tail(rec.log, lines=3)
        return f"The notebook's server exited{how}" + (f": {tail}" if tail else "")

    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        found = await asyncio.to_thread(processes.tagged_sessions, TAG_NOTEBOOK, None,
                                        {TAG_PLANE: self.provider.plane_id})
        swept = []
        for notebook_id, recs in found.items():
            if is_live(notebook_id):
                continue
            for rec in recs:
                self.log.warning("stopping orphan process group %s of notebook %s",
                                 rec.pid, notebook_id)
                await processes.stop_session_async(rec, self.provider.stop_timeout)
            swept.append(notebook_id)
        return swept
