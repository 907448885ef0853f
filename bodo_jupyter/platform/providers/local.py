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
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Integer, List, Unicode, default

from bodo_jupyter.contract.models import StepName

from ..errors import BadRequest, Forbidden, ProvisionError
from ..files import write_private, write_readable
from ..identity import Identity
from ..progress import Step, TaskOps
from ..run_as import RunAs, own_dir
from ..user_env import DEFAULT_KEEP, user_env
from . import bodo_versions, processes
from .base import ClusterProvider, ClusterSpec, InstanceType
from .bodo_guard import STARTUP_COMMAND as REFUSE_BODO_SPAWN
from .bodo_guard import site_files
from .local_launch import (
    FLAVOUR_NAMES,
    MPICH,
    ClusterPaths,
    OrgPaths,
    controller_argv,
    engine_argv,
    launcher_flavour,
    library_flavour,
    mpi_env,
    mpi_mismatch,
    python_path,
)
from .os_users import OrgUsers
from .processes import ProcessRecord

TAG_CLUSTER = "BODO_JUPYTER_CLUSTER_ID"
TAG_PLANE = "BODO_JUPYTER_PLANE_ID"

DEFAULT_INSTANCE_TYPES: dict[str, dict[str, Any]] = {
    "local.small": {"cores": 1, "memory_gib": 2},
    "local.medium": {"cores": 2, "memory_gib": 4},
    "local.large": {"cores": 4, "memory_gib": 8},
    "local.xlarge": {"cores": 8, "memory_gib": 16},
}


def publish_when_complete(source: Path, target: Path,
                          owner: tuple[int, int] | None = None) -> bool:
    """Copy the controller's engine file for the engines, once it is whole JSON, in one
    rename (readers never see half a file), owned by the engines' user. True once done."""
    try:
        text = source.read_text()
        json.loads(text)
    except (FileNotFoundError, ValueError):
        return False
    write_private(target, text, owner)
    return True


def unreachable_ancestor(path: Path) -> Path | None:
    """The first folder on the way to ``path`` that other OS users cannot pass through
    (no ``o+x``), or None when every one lets them."""
    for folder in [*reversed(path.parents), path]:
        try:
            if not os.stat(folder).st_mode & 0o001:
                return folder
        except FileNotFoundError:
            return None  # made later, by us, with the right mode
    return None


class LocalProvider(ClusterProvider):
    """MPI engines on this machine (ipyparallel + MPICH, or Open MPI)."""

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
        config=True, help="mpiexec to launch engines and jobs with (default: the one "
        "beside the control plane's Python, the mpich wheel's, else the first on PATH)."
    )

    @default("mpiexec")
    def _default_mpiexec(self) -> str:
        beside = Path(sys.executable).with_name("mpiexec")
        if beside.exists():
            return str(beside)
        return shutil.which("mpiexec") or "mpiexec"

    mpiexec_args = List(Unicode(), config=True, help="Extra arguments for mpiexec.")
    mpi_flavour = Enum(
        ["auto", "mpich", "openmpi"], "auto", config=True,
        help="""Whose MPI runs the clusters, which decides mpiexec's syntax (oversubscribe,
        rank-tagged output) and environment (Open MPI's OMPI_* variables). 'auto': from
        `mpiexec --version` (MPICH's hydra or Open MPI's), checked once per control
        plane against the MPI library mpi4py loads in LocalProvider.python; a cluster
        whose launcher and engines are of different MPIs is refused at create, since
        their ranks cannot start together.""",
    )
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
        help="Working directory of the engines (default: the organisation's shared folder "
        "with os-users isolation, else the control plane's).",
    )
    extra_env = Dict(Unicode(), config=True,
                     help="Variables the platform sets for engines and jobs (after env_keep).")
    env_keep = List(
        Unicode(), list(DEFAULT_KEEP), config=True,
        help="""Variables of the control plane's environment that engines, jobs and Git
        fetches inherit (shell patterns such as LC_*). Nothing else passes; names that
        look like secrets (*TOKEN*, *SECRET*, AWS_*, BODO_JUPYTER_*, ...) never do,
        whatever this says.""",
    )
    isolation = Enum(
        ["auto", "os-users", "none"], "auto", config=True,
        help="""Whose OS user runs an organisation's engines, jobs and Git fetches.
        'os-users': each organisation gets an OS user of its own (made on demand; the
        control plane must run as root), so organisations cannot read each other's
        files or processes, nor the control plane's. 'none': the control plane's own
        user; then the provider serves a single organisation and refuses others.
        'auto': os-users when running as root, else none.""",
    )
    workspace_root = Unicode(
        config=True,
        help="""Folder of the organisations' folders (each 0700, owned by the
        organisation's OS user: the ipyparallel profiles, job sources, a shared
        folder and a home). Other OS users must be able to pass through every folder
        above it. Default: $BODO_JUPYTER_WORKSPACES/<plane id> if set; with os-users,
        /var/lib/bodo-jupyter/<plane id>; else <data dir>/local/orgs.""",
    )

    @default("workspace_root")
    def _default_workspace_root(self) -> str:
        env = os.environ.get("BODO_JUPYTER_WORKSPACES")
        if env:
            return str(Path(env) / self.plane_id)
        if self.isolated:
            return f"/var/lib/bodo-jupyter/{self.plane_id}"
        return str(self.data_dir / "orgs")
    mca = Dict(
        {"btl": "self,sm", "pml": "ob1"}, config=True,
        help="""Open MPI's MCA parameters for local clusters (set as OMPI_MCA_* for the
        engines and anything they launch; not used with MPICH). All ranks of a local
        cluster share one machine, so shared memory is the transport; without this Open MPI
        probes
        network and fabric components first, which makes MPI_Init about 1 s slower
        on every start.""",
    )

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._org_users: OrgUsers | None = None
        self._org_locks: dict[str, asyncio.Lock] = {}
        self._org_ready: set[str] = set()  # organisations whose folder and user are checked
        self._usable: set[tuple[int, str, str]] = set()
        self._flavours: dict[tuple[str, str, str], str] = {}
        self._bodo: dict[str, str | None] = {}

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

    # -- Bodo ----------------------------------------------------------------------------

    def installed_bodo(self) -> str | None:
        """The bodo installed for LocalProvider.python (read once per Python), or None."""
        if self.python not in self._bodo:
            same = Path(self.python) == Path(sys.executable)
            self._bodo[self.python] = bodo_versions.installed(None if same else self.python)
        return self._bodo[self.python]

    def bodo_versions(self) -> list[str]:
        """Exactly the bodo of the engines' environment: a local cluster cannot run
        another (nothing is installed per cluster on this machine)."""
        v = self.installed_bodo()
        return [v] if v else []

    def choose_bodo_version(self, requested: str | None,
                            field: str = "bodo_version") -> str | None:
        have = self.installed_bodo()
        if requested is None or (have and bodo_versions.same(have, requested)):
            return have
        if have is None:
            raise BadRequest(
                f"bodo is not installed in the environment of local clusters "
                f"({self.python}), so a local cluster cannot run bodo {requested}: leave "
                f"{field} out, or install it (pip install 'bodo-jupyter[bodo]')", field=field)
        raise BadRequest(
            f"local clusters run the bodo installed in their environment ({self.python}), "
            f"which is {have}, not {requested}: leave {field} out or give {have}", field=field)

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

    # -- who runs the organisation's work ---------------------------------------------

    @property
    def isolated(self) -> bool:
        """Whether each organisation's processes run as an OS user of its own."""
        if self.isolation == "auto":
            return os.geteuid() == 0
        return self.isolation == "os-users"

    @property
    def org_users(self) -> OrgUsers:
        if self._org_users is None:
            self._org_users = OrgUsers(parent=self)
        return self._org_users

    def org_paths(self, org_id: str) -> OrgPaths:
        name = self.org_users.name_for(org_id) if self.isolated else org_id
        return OrgPaths(Path(self.workspace_root) / name)

    async def run_as(self, org_id: str) -> RunAs | None:
        """The OS user of the organisation (None: the control plane's own), with its
        folder ready: made on first use, checked once per process."""
        if not self.isolated:
            await asyncio.to_thread(self._org_folders, org_id, None)
            return None
        if os.geteuid() != 0:
            raise ProvisionError("LocalProvider.isolation is 'os-users' but the control "
                                 "plane does not run as root")
        lock = self._org_locks.setdefault(org_id, asyncio.Lock())
        async with lock:
            home = self.org_paths(org_id).home
            user = await asyncio.to_thread(self.org_users.ensure, org_id, home)
            if org_id not in self._org_ready:
                await asyncio.to_thread(self._org_folders, org_id, user)
                await self._check_usable(user)
                self._org_ready.add(org_id)
            return user

    def _org_folders(self, org_id: str, user: RunAs | None) -> OrgPaths:
        root = Path(self.workspace_root)
        if user is not None:
            blocked = unreachable_ancestor(root)
            if blocked is not None:
                raise ProvisionError(
                    f"organisations' OS users cannot reach {root}: {blocked} lets no other "
                    "user through (mode o-x); set LocalProvider.workspace_root to a folder "
                    "under a path others can traverse")
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o711)  # pass through to one's own folder; no listing
        paths = self.org_paths(org_id)
        for folder in (paths.root, paths.home, paths.tmp, paths.shared):
            own_dir(folder, user)
        self._write_site()
        return paths

    @property
    def site_dir(self) -> Path:
        """The platform's site folder: first on PYTHONPATH of every cluster process, its
        ``sitecustomize`` refuses Bodo's spawn mode in engines and job ranks alike."""
        return Path(self.workspace_root) / ".platform" / "site"

    def _write_site(self) -> None:
        """The site folder, the control plane's (0755: organisations' users read it,
        none may change it). Blocking; rewrites only what changed."""
        for folder in (self.site_dir.parent, self.site_dir):
            own_dir(folder, None, 0o755)
        for name, text in site_files().items():
            write_readable(self.site_dir / name, text)

    async def _check_usable(self, user: RunAs) -> None:
        """The organisation's user must be able to run our Python and mpiexec: an
        environment under a private folder (a pyenv in /root) cannot be."""
        key = (user.uid, self.python, self.mpiexec)
        if key in self._usable:
            return
        env = user_env(os.environ, keep=self.env_keep, platform=user.env())
        probe = [self.python, "-c", "import ipyparallel, mpi4py, shutil, sys; "
                 "sys.exit(0 if shutil.which(sys.argv[1]) else 3)", self.mpiexec]

        def run() -> tuple[int, str]:
            import subprocess

            try:
                proc = subprocess.run(probe, env=env, cwd=str(user.home), capture_output=True,
                                      text=True, timeout=60, stdin=subprocess.DEVNULL,
                                      **user.popen_kwargs())
            except OSError as e:
                return 126, str(e)
            return proc.returncode, (proc.stderr or proc.stdout).strip()

        code, out = await asyncio.to_thread(run)
        if code != 0:
            what = f"{self.mpiexec}" if code == 3 else f"{self.python}"
            tail = out.splitlines()[-1] if out else f"exit code {code}"
            raise ProvisionError(
                f"the organisation's OS user {user.name} cannot run {what}: {tail}. Install "
                "bodo-jupyter into an environment every user can read (not under a private "
                "folder such as /root), or set LocalProvider.python and LocalProvider.mpiexec")
        self._usable.add(key)

    async def check_ready(self, identity: Identity) -> None:
        """Without OS users, one organisation's code could read another's: serve one."""
        if self.isolated:
            return
        owner = await asyncio.to_thread(self._claim, identity.org_id)
        if owner != identity.org_id:
            raise Forbidden(
                "the local provider serves a single organisation on this control plane: it "
                "runs every organisation's code as the same OS user (the control plane does "
                "not run as root), so another organisation's code could read yours. Run the "
                "control plane as root to give each organisation an OS user of its own "
                "(LocalProvider.isolation), or use another provider",
                field="provider", code="single_organization")

    def _claim(self, org_id: str) -> str:
        """The organisation this provider serves: the first that asks. The claim is a
        whole file linked into place (link fails if the name exists), so two first
        requests cannot both win and no one reads a half-written claim."""
        path = self.data_dir / "organization"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        tmp = self.data_dir / f".organization.{os.getpid()}.{threading.get_ident()}"
        write_private(tmp, org_id)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
        finally:
            tmp.unlink()
        return org_id

    # -- which MPI ---------------------------------------------------------------------

    def flavour(self) -> str:
        """The MPI of the clusters (``mpich`` or ``openmpi``): the configured one, or
        detected from mpiexec and checked against the engines' library, once per
        (python, mpiexec). Raises ProvisionError when they are different MPIs."""
        key = (self.python, self.mpiexec, self.mpi_flavour)
        found = self._flavours.get(key)
        if found is not None:
            return found
        if self.mpi_flavour != "auto":
            found = self.mpi_flavour
        else:
            launcher, library = self._probe_mpi()
            problem = mpi_mismatch(launcher=launcher, library=library, mpiexec=self.mpiexec,
                                   python=self.python)
            if problem:
                raise ProvisionError(problem[0].upper() + problem[1:])
            found = library or launcher or MPICH
            self.log.info("local clusters run %s (mpiexec %s)", FLAVOUR_NAMES[found],
                          self.mpiexec)
        self._flavours[key] = found
        return found

    def _probe_mpi(self) -> tuple[str | None, str | None]:
        """What ``mpiexec --version`` says it is, and what mpi4py loads (without MPI_Init)."""
        env = user_env(os.environ, keep=self.env_keep, platform={})
        launcher = library = None
        if shutil.which(self.mpiexec):
            try:
                out = subprocess.run([self.mpiexec, "--version"], capture_output=True,
                                     text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
                launcher = launcher_flavour(out.stdout + out.stderr)
            except (OSError, subprocess.TimeoutExpired):
                pass
        try:
            out = subprocess.run(
                [self.python, "-c", "import mpi4py; mpi4py.rc.initialize = False; "
                 "from mpi4py import MPI; print(MPI.Get_library_version())"],
                capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
            library = library_flavour(out.stdout)
        except (OSError, subprocess.TimeoutExpired):
            pass
        return launcher, library

    # -- paths and environment -------------------------------------------------

    def paths(self, spec: ClusterSpec) -> ClusterPaths:
        return ClusterPaths(self.data_dir / "clusters" / spec.id,
                            self.org_paths(spec.org_id).profile(spec.id))

    def _legacy_profile(self, spec: ClusterSpec) -> Path:
        """Where clusters made before organisations had folders keep their profile."""
        return self.data_dir / "clusters" / spec.id / "profile"

    def cluster_env(self, spec: ClusterSpec, run_as: RunAs | None) -> dict[str, str]:
        """The environment of the cluster's processes (controller, engines, jobs): the
        allow-listed part of ours, then what the platform sets -- never a secret."""
        paths = self.org_paths(spec.org_id)
        platform = mpi_env(
            as_root=os.geteuid() == 0 and run_as is None, cluster_name=spec.name,
            core_count=spec.core_count, flavour=self.flavour(), mca=self.mca,
            extra={**(run_as.env() if run_as is not None else {}),
                   "IPYTHONDIR": str(paths.home / ".ipython"),
                   "BODO_JUPYTER_SHARED_DIR": str(paths.shared),
                   "BODO_JUPYTER_PACKAGES_DIR": str(paths.packages(spec.id)),
                   # The platform's own, explicit: the spawn guard, then %ppip's packages.
                   "PYTHONPATH": python_path(self.site_dir, paths.packages(spec.id)),
                   **self.extra_env, TAG_CLUSTER: spec.id, TAG_PLANE: self.plane_id},
        )
        return user_env(os.environ, keep=self.env_keep, platform=platform)

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
            run_as = await self.run_as(spec.org_id)
            if run_as is not None:
                ops.info(f"the organisation's processes run as OS user {run_as.name}")
            # Engines and launcher of one MPI, or no cluster (a clear error, at once).
            flavour = await asyncio.to_thread(self.flavour)
            await asyncio.to_thread(self._fresh_dirs, paths, run_as)
        env = self.cluster_env(spec, run_as)
        cwd = self.engine_cwd or (str(self.org_paths(spec.org_id).shared) if run_as is not None
                                  else os.getcwd())
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
                flavour=flavour, mpiexec_extra=self.mpiexec_args,
                engine_extra=[f"--IPEngine.startup_command={REFUSE_BODO_SPAWN}"],
            )
            if not shutil.which(self.mpiexec):
                raise ProvisionError(
                    f"mpiexec not found at {self.mpiexec}; install the 'mpich' package "
                    "or set LocalProvider.mpiexec"
                )
            # Controller and engines start together: engines wait for the
            # controller's connection file rather than for the controller.
            ctl = processes.spawn(ctl_argv, env=env, cwd=cwd, log_path=paths.controller_log,
                                  run_as=run_as)
            ops.record_resource(self.name, "process", f"controller:{ctl.pid}",
                                {"role": "controller", **ctl.to_dict()})
            eng = processes.spawn(eng_argv, env=env, cwd=cwd, log_path=paths.engines_log,
                                  run_as=run_as)
            ops.record_resource(self.name, "process", f"engines:{eng.pid}",
                                {"role": "engines", "ranks": n, **eng.to_dict()})
        async with ops.step(StepName.REGISTER):
            client = await self._wait_for_engines(spec, paths, ctl, eng, ops, run_as)
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

    def _fresh_dirs(self, paths: ClusterPaths, run_as: RunAs | None) -> None:
        """The platform's folder (logs) and the organisation's (the profile), both private."""
        own_dir(self.data_dir, None)
        shutil.rmtree(paths.profile_dir, ignore_errors=True)
        own_dir(paths.logs, None)
        os.chmod(paths.root, 0o700)
        for folder in (paths.profile_dir.parent.parent, paths.profile_dir.parent,
                       paths.profile_dir, paths.profile_dir / "security", paths.packages):
            own_dir(folder, run_as)

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
                                ops: TaskOps, run_as: RunAs | None) -> Any:
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
                        paths.published_engine_file,
                        (run_as.uid, run_as.gid) if run_as is not None else None)
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
            await asyncio.to_thread(shutil.rmtree, paths.profile_dir.parent, True)
            await asyncio.to_thread(shutil.rmtree, self._legacy_profile(spec), True)
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
        for candidate in (path, self._legacy_profile(spec) / "security" / path.name):
            try:
                return json.loads(await asyncio.to_thread(candidate.read_text))
            except FileNotFoundError:
                continue
        raise ProvisionError(
            f"The connection file of cluster {spec.name} is gone; delete and recreate it")

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
