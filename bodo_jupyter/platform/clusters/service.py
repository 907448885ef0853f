"""Cluster operations as the API offers them: validate, record, start a task.

Requests never wait for a cluster: they check the input, write the Cluster
and its Task in one transaction (so a bad request leaves nothing behind), and
return at once. The task handlers in :mod:`.lifecycle` do the slow part.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from logging import Logger
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.exc import IntegrityError

from bodo_jupyter.contract.models import CreateClusterRequest, TaskKind

from ..errors import BadRequest, Conflict, NotFound
from ..identity import Identity
from ..models import Cluster, ClusterLease, ClusterStatus, LeaseState, Resource, Task, TaskStatus
from ..paging import DEFAULT_LIMIT, Page, keyset
from ..progress import ResourceRecord
from ..providers.base import ClusterProvider, ClusterSpec, InstanceType
from ..store import Store
from ..tasks import TaskEngine
from ..views import cluster_view, iso, task_view
from .leases import Holder, Leases

OPEN = (TaskStatus.NEW, TaskStatus.INPROGRESS)
# What a list reads of a cluster: everything it shows, never ``details``.
LISTED = (Cluster.id, Cluster.name, Cluster.provider, Cluster.instance_type, Cluster.instances,
          Cluster.cores_per_instance, Cluster.efa, Cluster.bodo_version, Cluster.status,
          Cluster.status_message,
          Cluster.created_by, Cluster.created_at, Cluster.updated_at, Cluster.ready_at,
          Cluster.terminated_at, Cluster.made_for)


class ClusterService:
    def __init__(self, *, store: Store, engine: TaskEngine,
                 providers: Mapping[str, ClusterProvider], default_provider: str,
                 leases: Leases, log: Logger):
        self.store = store
        self.engine = engine
        self.providers = providers
        self.default_provider = default_provider
        self.leases = leases
        self.log = log

    # -- providers and shapes ------------------------------------------------------

    def provider(self, name: str | None, field: str = "provider") -> ClusterProvider:
        name = name or self.default_provider
        p = self.providers.get(name)
        if p is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise BadRequest(f"unknown provider {name!r}; enabled providers: {known}",
                             field=field)
        return p

    async def instance_types(self, identity: Identity, provider: str | None = None,
                             efa: bool | None = None) -> list[dict[str, Any]]:
        p = self.provider(provider)
        types = await p.instance_types(identity)
        if efa:
            types = [t for t in types if t.efa]
        return [{**t.to_dict(), "provider": p.name} for t in types]

    async def bodo_versions(self, provider: str | None = None) -> list[dict[str, Any]]:
        """The provider's Bodo versions, newest first, the default one marked (in a
        thread: the local provider may ask its engines' Python)."""
        p = self.provider(provider)
        offered = await asyncio.to_thread(p.bodo_versions)
        default = await asyncio.to_thread(p.choose_bodo_version, None) if offered else None
        return [{"version": v, "default": v == default, "provider": p.name} for v in offered]

    async def instance_type(self, identity: Identity, p: ClusterProvider, name: str, *,
                            field: str = "instance_type") -> InstanceType:
        """The named instance type of ``p``, or a 400 listing the choices."""
        types = await p.instance_types(identity)
        for t in types:
            if t.name == name:
                return t
        choices = ", ".join(t.name for t in types)
        raise BadRequest(
            f"unknown instance type {name!r} for provider {p.name}; choose one of: {choices}",
            field=field,
        )

    # -- lookups ---------------------------------------------------------------------

    def find(self, s: Any, identity: Identity, ref: str) -> Cluster:
        """By id, else by name: the live cluster of that name, else the newest one.
        Another organisation's cluster is not found, like one that does not exist."""
        c = s.get(Cluster, ref)
        if c is not None and c.org_id == identity.org_id:
            return c
        rows = s.scalars(
            select(Cluster)
            .where(Cluster.org_id == identity.org_id, Cluster.name == ref)
            .order_by(Cluster.created_at.desc())
        ).all()
        for c in rows:
            if c.status != ClusterStatus.TERMINATED:
                return c
        if rows:
            return rows[0]
        raise NotFound(f"cluster {ref!r} not found")

    def _last_tasks(self, s: Any, cluster_ids: list[str]) -> dict[str, Task]:
        out: dict[str, Task] = {}
        if not cluster_ids:
            return out
        rows = s.scalars(select(Task).where(Task.cluster_id.in_(cluster_ids),
                                            Task.kind.like("cluster.%"))
                         .order_by(Task.created_at, Task.id)).all()
        for t in rows:
            out[t.cluster_id] = t  # the newest wins
        return out

    def views(self, s: Any, clusters: list[Cluster]) -> list[dict[str, Any]]:
        ids = [c.id for c in clusters]
        last = self._last_tasks(s, ids)
        held = self.leases.held_by_cluster(s, ids)
        return [cluster_view(c, last_task_view(last.get(c.id)), holder_view(held.get(c.id)))
                for c in clusters]

    def view(self, s: Any, c: Cluster) -> dict[str, Any]:
        return self.views(s, [c])[0]

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            return self.view(s, self.find(s, identity, ref))

    def list(self, identity: Identity, *, status: str | None = None,
             include_terminated: bool = False, limit: int = DEFAULT_LIMIT,
             cursor: str | None = None) -> dict[str, Any]:
        """One page, in one statement: each cluster with its newest cluster task and
        its holder (outer joins), never its ``details``."""
        page = Page.of("clusters", limit, cursor)
        statuses: tuple[str, ...] | None = None
        if status:
            statuses = tuple(x.strip().upper() for x in status.split(",") if x.strip())
            bad = [x for x in statuses if x not in ClusterStatus.__members__]
            if bad:
                raise BadRequest(f"unknown status {bad[0]!r}; one of: "
                                 f"{', '.join(ClusterStatus.__members__)}", field="status")
        rows = self.store.rows(clusters_page(*page.key, statuses, include_terminated),
                               org_id=identity.org_id, **page.params())
        return page.answer("clusters", rows, listed_view)

    def spec(self, c: Cluster, resources: list[Resource] | None = None) -> ClusterSpec:
        p = self.provider(c.provider)
        itype = next((t for t in p.known_types() if t.name == c.instance_type), None)
        if itype is None:  # the type was removed from config after creation
            itype = InstanceType(c.instance_type, c.cores_per_instance,
                                 c.cores_per_instance, 0.0, c.efa)
        return ClusterSpec(
            id=c.id, org_id=c.org_id, name=c.name, instance_type=itype,
            instances=c.instances, efa=c.efa, details=dict(c.details or {}),
            bodo_version=c.bodo_version,
            resources=[ResourceRecord(r.id, r.kind, r.ref, dict(r.data))
                       for r in resources or []],
        )

    def load_spec(self, cluster_id: str) -> tuple[ClusterSpec, ClusterProvider]:
        with self.store.session() as s:
            c = s.get(Cluster, cluster_id)
            if c is None:
                raise NotFound(f"cluster {cluster_id} not found")
            res = s.scalars(select(Resource).where(Resource.cluster_id == c.id,
                                                   Resource.state == "active")).all()
            return self.spec(c, list(res)), self.provider(c.provider)

    def status(self, cluster_id: str) -> tuple[str, str, str]:
        """(name, status, status message) read now, not cached."""
        with self.store.session() as s:
            c = s.get(Cluster, cluster_id)
            if c is None:
                raise NotFound(f"cluster {cluster_id} not found")
            return c.name, c.status, c.status_message

    def set_status(self, cluster_id: str, status: ClusterStatus, message: str = "", *,
                   details: dict[str, Any] | None = None,
                   only_if: tuple[ClusterStatus, ...] | None = None) -> bool:
        with self.store.session() as s:
            c = s.get(Cluster, cluster_id)
            if c is None or (only_if is not None and c.status not in only_if):
                return False
            c.set_status(status, message)
            if details is not None:
                c.details = details
            if status == ClusterStatus.TERMINATED:
                self.leases.release_cluster(s, cluster_id)
        self.engine.notify()
        return True

    # -- create -----------------------------------------------------------------------

    async def create(self, identity: Identity,
                     req: CreateClusterRequest) -> tuple[dict, dict, bool]:
        """Check and start a create; returns (cluster, task, created). The contract has
        checked the request's shape; this checks it against the providers."""
        name = req.name
        p = self.provider(req.provider)
        await p.check_ready(identity)
        itype = await self.instance_type(identity, p, req.instance_type)
        instances = self.check_instances(p, req.instances)
        efa = req.efa
        await self.check_efa(identity, p, itype, efa)
        bodo = await asyncio.to_thread(p.choose_bodo_version, req.bodo_version or None)
        token = req.client_token or None

        with self.store.session() as s:
            if token:
                prior = s.scalars(select(Cluster).where(
                    Cluster.org_id == identity.org_id, Cluster.client_token == token)).first()
                if prior is not None:
                    same = (prior.name, prior.provider, prior.instance_type, prior.instances,
                            prior.efa, prior.bodo_version) == (name, p.name, itype.name,
                                                               instances, efa, bodo)
                    if not same:
                        raise Conflict(f"client_token {token!r} was already used for a "
                                       f"different request (cluster {prior.name})",
                                       field="client_token")
                    task = s.scalars(select(Task).where(
                        Task.cluster_id == prior.id, Task.kind == TaskKind.CLUSTER_CREATE)).one()
                    return (self.view(s, prior),
                            task_view(task, cluster_name=prior.name, detail=True), False)
            existing = s.scalars(select(Cluster).where(
                Cluster.org_id == identity.org_id, Cluster.name == name,
                Cluster.status != ClusterStatus.TERMINATED)).first()
            if existing is not None:
                raise Conflict(f"a cluster named {name!r} already exists "
                               f"(status {existing.status}); choose another name or delete it",
                               field="name")
        cluster, task = self._insert(identity, name, p, itype, instances, efa, token=token,
                                     bodo_version=bodo)
        return cluster, task, True

    @staticmethod
    def check_instances(p: ClusterProvider, instances: int, field: str = "instances") -> int:
        if instances > p.max_instances:
            raise BadRequest(f"{field} must be at most {p.max_instances} for provider {p.name}, "
                             f"got {instances}", field=field)
        return instances

    async def check_efa(self, identity: Identity, p: ClusterProvider, itype: InstanceType,
                        efa: bool, field: str = "efa") -> None:
        if efa and not itype.efa:
            efa_types = [t.name for t in await p.instance_types(identity) if t.efa]
            hint = (f"EFA-capable types: {', '.join(efa_types)}" if efa_types
                    else f"provider {p.name} has no EFA-capable instance types")
            raise BadRequest(f"instance type {itype.name} does not support EFA; {hint}",
                             field=field)

    def _insert(self, identity: Identity, name: str, p: ClusterProvider, itype: InstanceType,
                instances: int, efa: bool, *, token: str | None = None,
                bodo_version: str | None = None, made_for: Holder | None = None,
                made_for_info: dict[str, Any] | None = None,
                parent_task: str | None = None) -> tuple[dict, dict]:
        """Write the Cluster and its create Task in one transaction, then start the task."""
        cluster = Cluster(
            org_id=identity.org_id, name=name, provider=p.name, instance_type=itype.name,
            instances=instances, cores_per_instance=itype.cores, efa=efa,
            bodo_version=bodo_version, status=ClusterStatus.NEW, status_message="Waiting to start",
            created_by=identity.user_id, client_token=token,
            made_for=({"kind": made_for.kind, "id": made_for.id, "label": made_for.label,
                       **(made_for_info or {})} if made_for else None),
        )
        spec = ClusterSpec(id="", org_id=identity.org_id, name=name, instance_type=itype,
                           instances=instances, efa=efa, bodo_version=bodo_version)
        try:
            with self.store.session() as s:
                s.add(cluster)
                s.flush()
                spec.id = cluster.id
                if made_for is not None:
                    # Held by what it was made for from its first moment: nothing else
                    # can take it, and it cannot be deleted under its holder.
                    self.leases.take(s, identity.org_id, cluster.id, name, made_for)
                task = self.engine.new_task(kind=TaskKind.CLUSTER_CREATE, org_id=identity.org_id,
                                            user_id=identity.user_id, cluster_id=cluster.id,
                                            parent_id=parent_task)
                task.steps = [st.to_dict() for st in p.create_steps(spec)]
                s.add(task)
                s.flush()
                out = self.view(s, cluster), task_view(task, cluster_name=name, detail=True)
        except IntegrityError:
            # Lost a race with an identical request: report it like the check above.
            raise Conflict(f"a cluster named {name!r} already exists", field="name") from None
        self.engine.start(task.id)
        return out

    async def create_for(self, identity: Identity, holder: Holder, *, name: str,
                         provider: str, instance_type: str, instances: int, efa: bool,
                         bodo_version: str | None = None,
                         info: dict[str, Any] | None = None,
                         parent_task: str | None = None) -> tuple[str, str]:
        """A cluster made for one holder, held by it, listed as such, and deleted by it
        when it ends. Returns (cluster id, create task id)."""
        p = self.provider(provider)
        await p.check_ready(identity)
        itype = await self.instance_type(identity, p, instance_type)
        # The version the job asked for, if its provider still offers it (else the run
        # fails with the 400's reason), or the provider's newest.
        bodo = await asyncio.to_thread(p.choose_bodo_version, bodo_version,
                                       "cluster.bodo_version")
        cluster, task = self._insert(identity, name, p, itype, instances, efa,
                                     bodo_version=bodo,
                                     made_for=holder, made_for_info=info,
                                     parent_task=parent_task)
        return cluster["id"], task["id"]

    def create_task_of(self, cluster_id: str) -> str:
        with self.store.session() as s:
            return s.scalars(select(Task.id).where(Task.cluster_id == cluster_id,
                                                   Task.kind == TaskKind.CLUSTER_CREATE)).one()

    # -- delete -----------------------------------------------------------------------

    def _open_tasks(self, s: Any, cluster_id: str) -> list[Task]:
        """The cluster's own open tasks (creates and deletes), not the work of holders."""
        return list(s.scalars(select(Task).where(
            Task.cluster_id == cluster_id, Task.kind.like("cluster.%"),
            Task.status.in_(OPEN))).all())

    async def delete(self, identity: Identity, ref: str, *,
                     holder: Holder | None = None,
                     parent_task: str | None = None) -> tuple[dict, dict]:
        """Start deleting; refused while someone else holds the cluster (``holder`` may
        delete a cluster it holds, e.g. a run the cluster made for it)."""
        with self.store.session() as s:
            c = self.find(s, identity, ref)
            if c.status == ClusterStatus.TERMINATED:
                raise Conflict(f"cluster {c.name!r} is already deleted")
            self._refuse_if_held(s, c, holder)
            open_tasks = self._open_tasks(s, c.id)
            deleting = [t for t in open_tasks if t.kind == TaskKind.CLUSTER_DELETE]
            if deleting:
                raise Conflict(f"cluster {c.name!r} is already being deleted "
                               f"(task {deleting[0].id})")
            to_cancel = [t.id for t in open_tasks]
            spec = self.spec(c)
            p = self.provider(c.provider)
            task = self.engine.new_task(kind=TaskKind.CLUSTER_DELETE, org_id=identity.org_id,
                                        user_id=identity.user_id, cluster_id=c.id,
                                        params={"cancelled_tasks": to_cancel},
                                        parent_id=parent_task)
            task.steps = [st.to_dict() for st in p.delete_steps(spec)]
            s.add(task)
            c.set_status(ClusterStatus.STOPPING, "Deleting")
            self.leases.release_cluster(s, c.id)
            s.flush()
            out = self.view(s, c), task_view(task, cluster_name=c.name, detail=True)
        self.engine.notify()  # runs waiting for it learn it is going away
        for tid in to_cancel:
            try:
                await self.engine.cancel(tid, identity.org_id)
            except Conflict:
                pass  # it ended meanwhile
        self.engine.start(task.id)
        return out

    def _refuse_if_held(self, s: Any, c: Cluster, by: Holder | None) -> None:
        """A cluster in use is not deleted under its holder: free it first."""
        lease = self.leases.held(s, c.id)
        if lease is None or (by is not None and (lease.holder_kind, lease.holder_id)
                             == (by.kind, by.id)):
            return
        made_for = c.made_for or {}
        if (made_for.get("kind"), made_for.get("id")) == (lease.holder_kind, lease.holder_id):
            kind = self.leases.kinds.get(lease.holder_kind)
            hint = kind.release_hint if kind else "end its holder"
            raise Conflict(f"cluster {c.name!r} was made for {lease.holder_label} and is "
                           f"deleted when it ends; {hint} to end it now")
        raise Conflict(self.leases.in_use(c.name, lease))

    # -- attach -----------------------------------------------------------------------

    async def connection(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            c = self.find(s, identity, ref)
            if c.status != ClusterStatus.RUNNING:
                raise Conflict(f"cluster {c.name!r} is {c.status}, not RUNNING; "
                               "it can be attached once its create task has finished")
            spec, provider = self.spec(c), self.provider(c.provider)
        info = await provider.connection_info(spec)
        return {"cluster": spec.name, "cluster_id": spec.id, "core_count": spec.core_count,
                "ipyparallel": info}

    # -- health -----------------------------------------------------------------------

    async def check_running(self) -> list[str]:
        """Mark RUNNING clusters whose processes died as FAILED; returns their ids."""
        with self.store.session() as s:
            rows = s.scalars(select(Cluster).where(Cluster.status == ClusterStatus.RUNNING)).all()
            specs = []
            for c in rows:
                res = s.scalars(select(Resource).where(Resource.cluster_id == c.id,
                                                       Resource.state == "active")).all()
                specs.append((self.spec(c, list(res)), c.provider))
        failed = []
        for spec, prov in specs:
            reason = await self.provider(prov).check(spec)
            if reason and self.set_status(spec.id, ClusterStatus.FAILED, reason,
                                          only_if=(ClusterStatus.RUNNING,)):
                self.log.warning("cluster %s failed: %s", spec.name, reason)
                failed.append(spec.id)
        return failed

    def is_live(self, cluster_id: str) -> bool:
        """Whether a cluster record exists and is not TERMINATED (read now, not cached)."""
        with self.store.session() as s:
            status = s.scalar(select(Cluster.status).where(Cluster.id == cluster_id))
        return status is not None and status != ClusterStatus.TERMINATED

    async def sweep_orphans(self) -> list[str]:
        swept: list[str] = []
        for p in self.providers.values():
            swept += await p.sweep_orphans(self.is_live)
        return swept


@functools.lru_cache(maxsize=1024)
def clusters_page(has_cursor: bool, limit: int, statuses: tuple[str, ...] | None,
                  include_terminated: bool) -> Select:
    """The statement of a page of clusters (built once per shape; bound: org_id, cursor):
    the page cut first, in a subquery on the (org_id, created_at, id) index that also
    finds each cluster's newest cluster task, then joined with that task and the
    cluster's held lease."""
    newest = (select(Task.id).where(Task.cluster_id == Cluster.id, Task.kind.like("cluster.%"))
              .order_by(Task.created_at.desc(), Task.id.desc()).limit(1)
              .correlate(Cluster).scalar_subquery())
    q = select(*LISTED, newest.label("newest_task_id")).where(
        Cluster.org_id == bindparam("org_id"))
    if statuses:
        q = q.where(Cluster.status.in_(statuses))
    elif not include_terminated:
        q = q.where(Cluster.status != ClusterStatus.TERMINATED)
    page = keyset(q, Cluster.created_at, Cluster.id, has_cursor, limit).subquery("page")
    return (select(*(c for c in page.c if c.key != "newest_task_id"),
                   Task.id.label("task_id"), Task.kind.label("task_kind"),
                   Task.status.label("task_status"), ClusterLease.holder_kind,
                   ClusterLease.holder_id, ClusterLease.holder_label, ClusterLease.acquired_at)
            .select_from(page)
            .outerjoin(Task, Task.id == page.c.newest_task_id)
            .outerjoin(ClusterLease, and_(ClusterLease.cluster_id == page.c.id,
                                          ClusterLease.state == LeaseState.HELD))
            .order_by(page.c.created_at.desc(), page.c.id.desc()))


def last_task_view(t: Task | None) -> dict[str, Any] | None:
    return None if t is None else {"id": t.id, "kind": t.kind, "status": t.status}


def listed_view(r: Any) -> dict[str, Any]:
    """A row of :meth:`ClusterService.list` as the API shows it."""
    task = ({"id": r.task_id, "kind": r.task_kind, "status": r.task_status}
            if r.task_id else None)
    holder = ({"kind": r.holder_kind, "id": r.holder_id, "label": r.holder_label,
               "since": iso(r.acquired_at)} if r.holder_kind else None)
    return cluster_view(r, task, holder)


def holder_view(lease: ClusterLease | None) -> dict[str, Any] | None:
    if lease is None:
        return None
    return {"kind": lease.holder_kind, "id": lease.holder_id, "label": lease.holder_label,
            "since": iso(lease.acquired_at)}
