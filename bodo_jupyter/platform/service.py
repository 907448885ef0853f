"""The control plane as one object: store, task engine, providers, services.

It runs inside whatever process hosts it -- ``bodo-jupyter serve``, a Jupyter
server (the extension), or later a JupyterHub service -- and is the only
writer of state. ``start()`` takes the data-directory lock, migrates the
schema, resumes interrupted tasks and starts the health loop (clusters and
notebooks whose processes died become FAILED) and the orphan sweep.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from traitlets import Bool, Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from .clock import Clock, SystemClock
from .clusters.leases import Leases
from .clusters.lifecycle import CreateCluster, DeleteCluster
from .clusters.service import ClusterService
from .files import private_dir
from .identity import Identity
from .jobs.backend import JobBackend, job_backend_classes
from .jobs.deps import JobDeps
from .jobs.logs import JobLogs
from .jobs.run_task import RunJob
from .jobs.scheduler import JobScheduler
from .jobs.service import JobService
from .jobs.sources import SourceFetcher
from .limits import Limits
from .models import Organization, User
from .notebooks.backend import NotebookBackend, notebook_backend_classes
from .notebooks.lifecycle import CreateNotebook, DeleteNotebook
from .notebooks.service import NotebookService
from .providers.aws.accounts import AwsAccounts
from .providers.base import ClusterProvider, provider_classes
from .runtime import DataDirLock, default_data_dir, remove_info, write_info
from .secrets import SecretBox
from .store import Store
from .task_service import TaskService
from .tasks import TaskEngine


def plane_id(db_url: str, data_dir: Path) -> str:
    """Stable id of one control plane's world (its database and data directory)."""
    return hashlib.sha256(f"{db_url}|{Path(data_dir).resolve()}".encode()).hexdigest()[:16]


class ControlPlane(LoggingConfigurable):
    """Everything behind the REST API."""

    data_dir = Unicode(
        config=True,
        help="Where the database, cluster folders and logs live "
        "(default: $BODO_JUPYTER_DATA_DIR or <jupyter data dir>/bodo-jupyter).",
    )

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(default_data_dir())

    enabled_providers = List(
        Unicode(), ["local"], config=True,
        help="Cluster providers to offer, by entry-point name (e.g. local, aws).",
    )
    default_provider = Unicode("local", config=True, help="Provider used when none is given.")
    default_organization = Unicode(
        "default", config=True, help="Organisation of the single user outside JupyterHub."
    )
    default_user = Unicode(config=True, help="User name outside JupyterHub (default: $USER).")
    single_user = Bool(
        True, config=True,
        help="One user and organisation (default_user, default_organization) that every "
        "authenticated request acts as: bodo-jupyter serve and plain Jupyter. As a "
        "JupyterHub service it is off: each hub user is their own, in the organisation "
        "their hub groups name.",
    )

    @default("default_user")
    def _default_user(self) -> str:
        try:
            return getpass.getuser()
        except Exception:
            return "user"

    health_check_interval = Float(
        5.0, config=True,
        help="Seconds between health checks of running clusters and notebooks."
    )
    public_api_url = Unicode(
        "", config=True,
        help="""URL of this control plane's API as notebooks' kernels reach it
        (BODO_JUPYTER_URL in a notebook's server), e.g. a hub service's
        http://127.0.0.1:8000/services/bodo/bodo/api/v1. Default: the URL the host
        advertises (`bodo-jupyter serve`, the Jupyter server).""",
    )
    orphan_sweep_interval = Float(
        300.0, config=True,
        help="Seconds between sweeps for processes of deleted clusters and notebooks (also "
        "run at start).",
    )

    def __init__(self, clock: Clock | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        # What time it is for schedules (tests pass a clock they move by hand).
        self.clock = clock or SystemClock()
        self.path = private_dir(Path(self.data_dir).expanduser())
        self.store = Store(parent=self, default_path=self.path / "bodo-jupyter.sqlite")
        self.plane_id = plane_id(self.store.url, self.path)
        self.engine = TaskEngine(parent=self, store=self.store)
        self.secrets = SecretBox(parent=self, data_dir=self.path)
        self.tasks = TaskService(store=self.store, engine=self.engine)
        # What one request may ask (body size, JSON depth, env, cron interval, runs a day).
        self.limits = Limits(parent=self)

        # Clusters: providers (entry points), who holds what, create and delete tasks.
        self.providers: dict[str, ClusterProvider] = {}
        classes = provider_classes()
        for name in self.enabled_providers:
            if name not in classes:
                raise ValueError(f"provider {name!r} is not installed; installed: "
                                 f"{', '.join(sorted(classes))}")
            self.providers[name] = classes[name](parent=self, data_dir=self.path / name,
                                                 plane_id=self.plane_id)
        # The organisations' AWS keys (for the AWS provider and S3 job sources alike).
        self.aws_accounts = AwsAccounts(store=self.store, secrets=self.secrets,
                                        engine=self.engine)
        self.leases = Leases(self.store, self.engine)
        self.clusters = ClusterService(store=self.store, engine=self.engine,
                                       providers=self.providers,
                                       default_provider=self.default_provider,
                                       leases=self.leases, log=self.log)
        self.engine.register(CreateCluster(self.clusters))
        self.engine.register(DeleteCluster(self.clusters))
        for p in self.providers.values():
            p.attach(self)

        # Jobs: sources, logs, runs as tasks on the providers' job backends, schedules.
        backend_classes = job_backend_classes()
        self.job_backends: dict[str, JobBackend] = {
            name: backend_classes[name](p) for name, p in self.providers.items()
            if name in backend_classes}
        self.fetcher = SourceFetcher(parent=self)
        self.job_logs = JobLogs(parent=self, root=self.path / "job-logs")
        deps = JobDeps(store=self.store, engine=self.engine, clusters=self.clusters,
                       leases=self.leases, backends=self.job_backends, secrets=self.secrets,
                       fetcher=self.fetcher, log_files=self.job_logs,
                       aws_accounts=self.aws_accounts)
        self.jobs = JobService(deps, clock=self.clock, limits=self.limits)
        self.engine.register(RunJob(deps, config=self))
        self.engine.on_finished.append(self.jobs.on_task_finished)
        self.scheduler = JobScheduler(parent=self, store=self.store, engine=self.engine,
                                      jobs=self.jobs, log_files=self.job_logs, clock=self.clock)

        # Notebooks: Jupyter servers on the providers' nodes, holding their cluster.
        nb_classes = notebook_backend_classes()
        self.notebook_backends: dict[str, NotebookBackend] = {
            name: nb_classes[name](p, parent=self) for name, p in self.providers.items()
            if name in nb_classes}
        # Where kernels reach the API: what the host advertises (or public_api_url).
        self.api_url: str | None = None
        self.api_token: str | None = None
        self.notebooks = NotebookService(
            store=self.store, engine=self.engine, clusters=self.clusters, leases=self.leases,
            backends=self.notebook_backends, default_provider=self.default_provider,
            secrets=self.secrets, limits=self.limits, api=self.api_endpoint, log=self.log)
        self.engine.register(CreateNotebook(self.notebooks))
        self.engine.register(DeleteNotebook(self.notebooks))

        self._lock = DataDirLock(self.path)
        self._loops: list[asyncio.Task[None]] = []
        self.started = False
        self._local_identity: Identity | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._lock.acquire()
        try:
            await asyncio.to_thread(self.store.upgrade)
            if self.single_user:
                self._local_identity = self.ensure_user(
                    self.default_user, self.default_organization, is_admin=True)
            self.log.info("bodo-jupyter control plane: data in %s, database %s",
                          self.path, self.store.redacted_url())
            released = self.leases.release_ended()
            if released:
                self.log.info("released %d lease(s) of holders that ended while stopped",
                              released)
            await self.engine.recover()
            self._loops.append(asyncio.create_task(self._health_loop()))
            self._loops.append(asyncio.create_task(self._sweep_loop()))
            self._loops.append(asyncio.create_task(self.scheduler.run_forever()))
        except BaseException:
            self._lock.release()
            raise
        self.started = True

    async def stop(self) -> None:
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await self.engine.stop()
        self.fetcher.close()
        for p in self.providers.values():
            await p.close()
        remove_info(self.path)
        self._lock.release()
        self.store.dispose()
        self.started = False

    def advertise(self, url: str, token: str, kind: str) -> None:
        """Tell clients on this machine where the API is (0600 runtime file); notebooks'
        kernels reach it there too (unless ``public_api_url`` says otherwise)."""
        self.api_url, self.api_token = url, token
        write_info(self.path, {"url": url, "token": token, "kind": kind})

    def api_endpoint(self) -> tuple[str | None, str | None]:
        """(URL, token) of the API for a notebook's kernels. Behind a hub the token is the
        notebook server's own hub token (the backend puts that one in instead)."""
        return (self.public_api_url or self.api_url or None), self.api_token

    async def _health_loop(self) -> None:
        while True:
            try:
                await self.clusters.check_running()
            except Exception:
                self.log.exception("cluster health check failed")
            try:
                await self.notebooks.check_running()
            except Exception:
                self.log.exception("notebook health check failed")
            await asyncio.sleep(self.health_check_interval)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                swept = await self.clusters.sweep_orphans()
                if swept:
                    self.log.warning("stopped leftover processes of clusters %s", swept)
            except Exception:
                self.log.exception("orphan sweep failed")
            try:
                swept = await self.notebooks.sweep_orphans()
                if swept:
                    self.log.warning("stopped leftover processes of notebooks %s", swept)
            except Exception:
                self.log.exception("notebook orphan sweep failed")
            await asyncio.sleep(self.orphan_sweep_interval)

    # -- identities ----------------------------------------------------------------

    def ensure_user(self, name: str, org_name: str, *, email: str | None = None,
                    is_admin: bool = False) -> Identity:
        with self.store.session() as s:
            org = s.scalars(select(Organization).where(Organization.name == org_name)).first()
            if org is None:
                org = Organization(name=org_name)
                s.add(org)
                s.flush()
            user = s.scalars(select(User).where(User.name == name)).first()
            if user is None:
                user = User(name=name, email=email, org_id=org.id, is_admin=is_admin)
                s.add(user)
                s.flush()
            elif (user.org_id, user.is_admin) != (org.id, is_admin):
                # The hub's groups are the truth: a user moved to another organisation
                # (or made its admin) is one the moment the hub says so.
                self.log.info("user %s: organisation %s, admin %s (from the hub)",
                              name, org.name, is_admin)
                user.org_id, user.is_admin = org.id, is_admin
                s.flush()
            return Identity(user.id, user.name, org.id, org.name, user.is_admin)

    @property
    def local_identity(self) -> Identity:
        """The one user of a single-user install (standalone or plain Jupyter)."""
        if self._local_identity is None:
            raise RuntimeError("control plane not started")
        return self._local_identity
