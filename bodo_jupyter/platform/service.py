"""The control plane as one object: store, task engine, providers, services.

It runs inside whatever process hosts it -- ``bodo-jupyter serve``, a Jupyter
server (the extension), or later a JupyterHub service -- and is the only
writer of state. ``start()`` takes the data-directory lock, migrates the
schema, resumes interrupted tasks and starts the health loop.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from traitlets import Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from .clock import Clock, SystemClock
from .cluster_tasks import CreateCluster, DeleteCluster
from .clusters import ClusterService
from .errors import BadRequest, NotFound
from .identity import Identity
from .jobs.logs import JobLogs
from .jobs.run_task import RunJob
from .jobs.scheduler import JobScheduler
from .jobs.service import JobService
from .jobs.sources import SourceFetcher
from .models import Cluster, JobRun, Organization, Task, TaskEvent, User
from .providers.base import ClusterProvider, provider_classes
from .runtime import DataDirLock, default_data_dir, remove_info, write_info
from .secrets import SecretBox
from .store import Store
from .tasks import TaskEngine
from .validation import check_int
from .views import apply_cursor, page, task_view


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

    @default("default_user")
    def _default_user(self) -> str:
        try:
            return getpass.getuser()
        except Exception:
            return "user"

    health_check_interval = Float(
        5.0, config=True, help="Seconds between health checks of running clusters."
    )
    orphan_sweep_interval = Float(
        300.0, config=True,
        help="Seconds between sweeps for processes of deleted clusters (also run at start).",
    )

    def __init__(self, clock: Clock | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        # What time it is for schedules (tests pass a clock they move by hand).
        self.clock = clock or SystemClock()
        self.path = Path(self.data_dir).expanduser()
        self.path.mkdir(parents=True, exist_ok=True)
        self.store = Store(parent=self, default_path=self.path / "bodo-jupyter.sqlite")
        self.plane_id = plane_id(self.store.url, self.path)
        self.engine = TaskEngine(parent=self, store=self.store)
        self.providers: dict[str, ClusterProvider] = {}
        classes = provider_classes()
        for name in self.enabled_providers:
            if name not in classes:
                raise ValueError(f"provider {name!r} is not installed; installed: "
                                 f"{', '.join(sorted(classes))}")
            self.providers[name] = classes[name](parent=self, data_dir=self.path / name,
                                                 plane_id=self.plane_id)
        self.clusters = ClusterService(self)
        self.engine.register(CreateCluster(self.clusters))
        self.engine.register(DeleteCluster(self.clusters))
        # Jobs: secrets at rest, sources, logs, runs as tasks, the scheduler.
        self.secrets = SecretBox(parent=self, data_dir=self.path)
        self.fetcher = SourceFetcher(parent=self)
        self.job_logs = JobLogs(parent=self, root=self.path / "job-logs")
        self.jobs = JobService(self, clock=self.clock)
        self.engine.register(RunJob(self))
        self.engine.on_finished.append(self.jobs.on_task_finished)
        self.scheduler = JobScheduler(parent=self, plane=self, clock=self.clock)
        for p in self.providers.values():
            p.attach(self)
        self._lock = DataDirLock(self.path)
        self._loops: list[asyncio.Task[None]] = []
        self.started = False
        self._local_identity: Identity | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._lock.acquire()
        try:
            await asyncio.to_thread(self.store.upgrade)
            self._local_identity = self.ensure_user(self.default_user, self.default_organization,
                                                    is_admin=True)
            self.log.info("bodo-jupyter control plane: data in %s, database %s",
                          self.path, self.store.redacted_url())
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
        for p in self.providers.values():
            await p.close()
        remove_info(self.path)
        self._lock.release()
        self.store.dispose()
        self.started = False

    def advertise(self, url: str, token: str, kind: str) -> None:
        """Tell clients on this machine where the API is (0600 runtime file)."""
        write_info(self.path, {"url": url, "token": token, "kind": kind})

    async def _health_loop(self) -> None:
        while True:
            try:
                await self.clusters.check_running()
            except Exception:
                self.log.exception("cluster health check failed")
            await asyncio.sleep(self.health_check_interval)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                swept = await self.clusters.sweep_orphans()
                if swept:
                    self.log.warning("stopped leftover processes of clusters %s", swept)
            except Exception:
                self.log.exception("orphan sweep failed")
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
            return Identity(user.id, user.name, org.id, org.name, user.is_admin)

    @property
    def local_identity(self) -> Identity:
        """The one user of a single-user install (standalone or plain Jupyter)."""
        if self._local_identity is None:
            raise RuntimeError("control plane not started")
        return self._local_identity

    # -- tasks -------------------------------------------------------------------------

    def _task(self, s: Any, identity: Identity, task_id: str) -> Task:
        t = s.get(Task, task_id)
        if t is None or t.org_id != identity.org_id:
            raise NotFound(f"task {task_id!r} not found")
        return t

    def _cluster_names(self, s: Any, ids: set[str | None]) -> dict[str, str]:
        ids = {i for i in ids if i}
        if not ids:
            return {}
        return dict(s.execute(select(Cluster.id, Cluster.name).where(Cluster.id.in_(ids))).all())

    def get_task(self, identity: Identity, task_id: str, since: int = 0) -> dict[str, Any]:
        with self.store.session() as s:
            t = self._task(s, identity, task_id)
            events = list(s.scalars(select(TaskEvent).where(
                TaskEvent.task_id == t.id, TaskEvent.seq > since).order_by(TaskEvent.seq)).all())
            names = self._cluster_names(s, {t.cluster_id})
            return task_view(t, cluster_name=names.get(t.cluster_id or ""), events=events,
                             detail=True)

    async def watch_task(self, identity: Identity, task_id: str, since: int,
                         wait: float) -> dict[str, Any]:
        """Long poll: return when the task has news after ``since`` or ``wait`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            view = self.get_task(identity, task_id, since)
            if view["events"] or view["status"] in ("FINISHED", "FAILED", "CANCELLED"):
                return view
            left = deadline - loop.time()
            if left <= 0:
                return view
            await self.engine.wait_for_change(left)

    def list_tasks(self, identity: Identity, *, status: str | None = None,
                   cluster: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict[str, Any]:
        limit = check_int(limit, "limit", minimum=1, maximum=500)
        q = select(Task).where(Task.org_id == identity.org_id)
        if status:
            statuses = [x.strip().upper() for x in status.split(",") if x.strip()]
            known = ("NEW", "INPROGRESS", "FINISHED", "FAILED", "CANCELLED")
            bad = [x for x in statuses if x not in known]
            if bad:
                raise BadRequest(f"unknown status {bad[0]!r}; one of: {', '.join(known)}",
                                 field="status")
            q = q.where(Task.status.in_(statuses))
        with self.store.session() as s:
            if cluster:
                ids = [c.id for c in s.scalars(select(Cluster).where(
                    Cluster.org_id == identity.org_id,
                    (Cluster.id == cluster) | (Cluster.name == cluster))).all()]
                # A job run that made its own cluster is listed with that cluster too.
                runs = select(JobRun.task_id).where(JobRun.cluster_id.in_(ids))
                q = q.where(Task.cluster_id.in_(ids) | Task.id.in_(runs))
            q = apply_cursor(q, Task, cursor).limit(limit + 1)
            rows = list(s.scalars(q).all())
            names = self._cluster_names(s, {t.cluster_id for t in rows})
            return page(rows, limit, [task_view(t, cluster_name=names.get(t.cluster_id or ""))
                                      for t in rows])

    async def cancel_task(self, identity: Identity, task_id: str) -> dict[str, Any]:
        await self.engine.cancel(task_id, identity.org_id)
        return self.get_task(identity, task_id)
