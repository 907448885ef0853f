"""Notebook operations as the API offers them: check, record, start a task.

Like clusters, requests never wait: a create checks its input (the name, the
instance type, the hub's server environment, the cluster: one of the
organisation's, RUNNING, free), then writes the Notebook, its lease on the
cluster and its Task in one transaction -- a bad request leaves nothing -- and
returns. The handlers in :mod:`.lifecycle` start and stop the server.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Mapping
from logging import Logger
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError

from bodo_jupyter.contract.models import CreateNotebookRequest, StepName, TaskKind

from ..clusters.leases import Holder, HolderRules, Leases
from ..clusters.service import ClusterService, last_task_view
from ..errors import BadRequest, Conflict, NotFound
from ..identity import Identity
from ..limits import Limits
from ..models import Cluster, ClusterStatus, Notebook, NotebookStatus, Task, TaskStatus
from ..paging import DEFAULT_LIMIT, Page, keyset
from ..progress import Step
from ..secrets import SecretBox
from ..store import Store
from ..tasks import TaskEngine
from ..views import notebook_view, task_view
from .backend import NotebookBackend, NotebookSpec, ServerLaunch

HOLDER_KIND = "notebook"
OPEN = (TaskStatus.NEW, TaskStatus.INPROGRESS)
#: Notebooks that may hold their cluster (a FAILED or TERMINATED one lets go).
LIVE = (NotebookStatus.NEW, NotebookStatus.INPROGRESS, NotebookStatus.RUNNING,
        NotebookStatus.STOPPING)
# What a list reads of a notebook: never its server's environment, token or details.
LISTED = (Notebook.id, Notebook.name, Notebook.provider, Notebook.instance_type,
          Notebook.cluster_id, Notebook.status, Notebook.status_message, Notebook.created_by,
          Notebook.created_at, Notebook.updated_at, Notebook.ready_at, Notebook.terminated_at)

#: (url, token) of the control plane's API for kernels, or (None, None) when unknown.
ApiEndpoint = Callable[[], tuple[str | None, str | None]]


def notebook_holder(notebook_id: str, name: str) -> Holder:
    """How a notebook appears as the holder of its cluster."""
    return Holder(HOLDER_KIND, notebook_id, f"notebook {name!r}")


def create_steps(cluster_name: str | None) -> list[Step]:
    steps = [Step(StepName.REQUEST_NODE, "Requesting the notebook's node"),
             Step(StepName.NODE_RUNNING, "Starting the notebook's Jupyter server"),
             Step(StepName.READINESS_PROBE, "Probing the server over HTTP until it answers")]
    if cluster_name:
        steps.append(Step(StepName.ATTACH_CLUSTER,
                          f"Attaching to cluster {cluster_name}: kernels start attached"))
    return steps


def delete_steps(cluster_name: str | None) -> list[Step]:
    steps = [Step(StepName.STOP_NODE, "Stopping the notebook's server and kernels")]
    if cluster_name:
        steps.append(Step(StepName.RELEASE_CLUSTER, f"Letting go of cluster {cluster_name}"))
    return steps


class NotebookService:
    def __init__(self, *, store: Store, engine: TaskEngine, clusters: ClusterService,
                 leases: Leases, backends: Mapping[str, NotebookBackend],
                 default_provider: str, secrets: SecretBox, limits: Limits,
                 api: ApiEndpoint, log: Logger):
        self.store = store
        self.engine = engine
        self.clusters = clusters
        self.leases = leases
        self.backends = backends
        self.default_provider = default_provider
        self.secrets = secrets
        self.limits = limits
        self.api = api
        self.log = log
        self.leases.register(HolderRules(HOLDER_KIND, "delete the notebook", self._alive))

    def _alive(self, ids: list[str]) -> set[str]:
        with self.store.session() as s:
            return set(s.scalars(select(Notebook.id).where(
                Notebook.id.in_(ids), Notebook.status.in_(LIVE))).all())

    # -- backends and shapes ----------------------------------------------------------

    def backend(self, provider: str | None, field: str = "provider") -> NotebookBackend:
        name = provider or self.default_provider
        b = self.backends.get(name)
        if b is None:
            offered = ", ".join(sorted(self.backends)) or "none"
            raise BadRequest(f"notebooks cannot run on provider {name!r}; providers with "
                             f"notebooks: {offered}", field=field)
        return b

    def instance_types(self, identity: Identity,
                       provider: str | None = None) -> list[dict[str, Any]]:
        name = provider or self.default_provider
        self.clusters.provider(name)  # a 400 naming the provider when it is unknown
        b = self.backend(name)
        return [{**t.to_dict(), "provider": name} for t in b.instance_types()]

    # -- lookups ----------------------------------------------------------------------

    def find(self, s: Any, identity: Identity, ref: str) -> Notebook:
        """By id, else by name: the live notebook of that name, else the newest one.
        Another organisation's notebook is not found, like one that does not exist."""
        n = s.get(Notebook, ref)
        if n is not None and n.org_id == identity.org_id:
            return n
        rows = s.scalars(select(Notebook).where(
            Notebook.org_id == identity.org_id, Notebook.name == ref)
            .order_by(Notebook.created_at.desc())).all()
        for n in rows:
            if n.status != NotebookStatus.TERMINATED:
                return n
        if rows:
            return rows[0]
        raise NotFound(f"notebook {ref!r} not found")

    def view(self, s: Any, n: Notebook) -> dict[str, Any]:
        name = s.scalar(select(Cluster.name).where(Cluster.id == n.cluster_id)) \
            if n.cluster_id else None
        task = s.get(Task, n.last_task_id) if n.last_task_id else None
        return notebook_view(n, cluster_name=name, last_task=last_task_view(task))

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            return self.view(s, self.find(s, identity, ref))

    def list(self, identity: Identity, *, include_terminated: bool = False,
             limit: int = DEFAULT_LIMIT, cursor: str | None = None) -> dict[str, Any]:
        """One page, in one statement: each notebook with its cluster's name and its
        newest task (outer joins)."""
        page = Page.of("notebooks", limit, cursor)
        rows = self.store.rows(notebooks_page(*page.key, include_terminated),
                               org_id=identity.org_id, **page.params())
        return page.answer("notebooks", rows, listed_view)

    def spec(self, n: Notebook, cluster_name: str | None = None) -> NotebookSpec:
        return NotebookSpec(id=n.id, org_id=n.org_id, name=n.name,
                            instance_type=n.instance_type, cluster_id=n.cluster_id,
                            cluster_name=cluster_name, details=dict(n.details or {}))

    def load(self, notebook_id: str) -> tuple[NotebookSpec, NotebookBackend]:
        with self.store.session() as s:
            n = s.get(Notebook, notebook_id)
            if n is None:
                raise NotFound(f"notebook {notebook_id} not found")
            name = s.scalar(select(Cluster.name).where(Cluster.id == n.cluster_id)) \
                if n.cluster_id else None
            return self.spec(n, name), self.backend(n.provider)

    def set_status(self, notebook_id: str, status: NotebookStatus, message: str = "", *,
                   only_if: tuple[NotebookStatus, ...] | None = None) -> bool:
        """A FAILED or TERMINATED notebook lets go of its cluster in the same
        transaction."""
        with self.store.session() as s:
            n = s.get(Notebook, notebook_id)
            if n is None or (only_if is not None and n.status not in only_if):
                return False
            n.set_status(status, message)
            if status == NotebookStatus.TERMINATED:
                n.details = {}
        if status in (NotebookStatus.FAILED, NotebookStatus.TERMINATED):
            self.release(notebook_id)
        self.engine.notify()
        return True

    def release(self, notebook_id: str) -> bool:
        return self.leases.release((HOLDER_KIND, notebook_id))

    def save_details(self, notebook_id: str, details: dict[str, Any]) -> None:
        with self.store.session() as s:
            n = s.get(Notebook, notebook_id)
            if n is not None:
                n.details = dict(details)

    def launch_for(self, notebook_id: str) -> ServerLaunch:
        """What the server gets: its token (made once, kept encrypted), the hub's
        environment (decrypted now, for this start only), and the API for kernels."""
        with self.store.session() as s:
            n = s.get(Notebook, notebook_id)
            server_env = (json.loads(self.secrets.decrypt(n.server_env_enc))
                          if n.server_env_enc else {})
            token = None
            if not server_env:
                if n.token_enc is None:
                    n.token_enc = self.secrets.encrypt(secrets.token_urlsafe(32))
                token = self.secrets.decrypt(n.token_enc)
        url, api_token = self.api()
        return ServerLaunch(token=token, server_env=server_env, api_url=url,
                            api_token=api_token)

    def check_attached(self, spec: NotebookSpec) -> None:
        """The notebook's cluster is RUNNING and held by it (else a sentence why not)."""
        with self.store.session() as s:
            c = s.get(Cluster, spec.cluster_id)
            if c is None or c.status != ClusterStatus.RUNNING:
                status = c.status if c is not None else "gone"
                raise Conflict(f"cluster {spec.cluster_name!r} is {status}, not RUNNING")
            lease = self.leases.held(s, c.id)
            if lease is None or (lease.holder_kind, lease.holder_id) != (HOLDER_KIND, spec.id):
                raise Conflict(f"notebook {spec.name!r} no longer holds cluster {c.name!r}")

    # -- create -----------------------------------------------------------------------

    def _cluster(self, s: Any, identity: Identity, ref: str) -> Cluster:
        """The organisation's RUNNING cluster ``ref``; another organisation's is not
        found, exactly like one that does not exist."""
        try:
            c = self.clusters.find(s, identity, ref)
        except NotFound:
            raise BadRequest(f"cluster {ref!r} not found: give the name or id of one of "
                             "your organisation's RUNNING clusters", field="cluster") from None
        if c.status != ClusterStatus.RUNNING:
            raise Conflict(f"cluster {c.name!r} is {c.status}, not RUNNING; a notebook can "
                           "be attached once its create task has finished", field="cluster")
        return c

    async def create(self, identity: Identity,
                     req: CreateNotebookRequest) -> tuple[dict, dict]:
        """Check and start a create; returns (notebook, task). The contract has checked
        the request's shape; this checks it against the backends and the clusters."""
        name = req.name
        server_env = dict(req.server_env or {})
        self.limits.check_env(server_env, field="server_env")
        with self.store.session() as s:
            c = self._cluster(s, identity, req.cluster) if req.cluster else None
            provider = c.provider if c is not None else self.default_provider
            cluster_id, cluster_name = (c.id, c.name) if c is not None else (None, None)
        b = self.backend(provider, field="cluster" if cluster_id else "provider")
        b.check_create(identity.org_id, cluster_id)
        types = b.instance_types()
        if req.instance_type not in {t.name for t in types}:
            raise BadRequest(f"unknown notebook instance type {req.instance_type!r} for "
                             f"provider {provider}; choose one of: "
                             f"{', '.join(t.name for t in types)}", field="instance_type")
        try:
            with self.store.session() as s:
                existing = s.scalars(select(Notebook).where(
                    Notebook.org_id == identity.org_id, Notebook.name == name,
                    Notebook.status != NotebookStatus.TERMINATED)).first()
                if existing is not None:
                    raise Conflict(f"a notebook named {name!r} already exists (status "
                                   f"{existing.status}); choose another name or delete it",
                                   field="name")
                n = Notebook(org_id=identity.org_id, name=name, provider=provider,
                             instance_type=req.instance_type, cluster_id=cluster_id,
                             status=NotebookStatus.NEW, status_message="Waiting to start",
                             created_by=identity.user_id,
                             server_env_enc=(self.secrets.encrypt(json.dumps(server_env))
                                             if server_env else None))
                s.add(n)
                s.flush()
                if cluster_id is not None:
                    # Checked again in this transaction: it may have changed since.
                    self._cluster(s, identity, cluster_id)
                    # Held from the notebook's first moment: no job can take it.
                    self.leases.take(s, identity.org_id, cluster_id, cluster_name or "",
                                     notebook_holder(n.id, name))
                task = self.engine.new_task(kind=TaskKind.NOTEBOOK_CREATE,
                                            org_id=identity.org_id, user_id=identity.user_id,
                                            cluster_id=cluster_id,
                                            params={"notebook_id": n.id})
                task.steps = [st.to_dict() for st in create_steps(cluster_name)]
                s.add(task)
                s.flush()
                n.last_task_id = task.id
                out = self.view(s, n), task_view(task, cluster_name=cluster_name, detail=True)
        except IntegrityError:
            # Lost a race: with an identical name, or for the same cluster.
            with self.store.session() as s:
                taken = s.scalars(select(Notebook.id).where(
                    Notebook.org_id == identity.org_id, Notebook.name == name,
                    Notebook.status != NotebookStatus.TERMINATED)).first()
            if taken:
                raise Conflict(f"a notebook named {name!r} already exists",
                               field="name") from None
            raise Conflict(f"cluster {cluster_name!r} was taken meanwhile",
                           field="cluster") from None
        self.engine.start(task.id)
        return out

    # -- delete -----------------------------------------------------------------------

    def _open_tasks(self, s: Any, n: Notebook) -> list[str]:
        ids = [n.last_task_id] if n.last_task_id else []
        return list(s.scalars(select(Task.id).where(Task.id.in_(ids),
                                                    Task.status.in_(OPEN))).all())

    async def delete(self, identity: Identity, ref: str) -> tuple[dict, dict]:
        with self.store.session() as s:
            n = self.find(s, identity, ref)
            if n.status == NotebookStatus.TERMINATED:
                raise Conflict(f"notebook {n.name!r} is already deleted")
            open_tasks = self._open_tasks(s, n)
            if n.status == NotebookStatus.STOPPING and open_tasks:
                raise Conflict(f"notebook {n.name!r} is already being deleted "
                               f"(task {open_tasks[0]})")
            cluster_name = s.scalar(select(Cluster.name).where(
                Cluster.id == n.cluster_id)) if n.cluster_id else None
            task = self.engine.new_task(kind=TaskKind.NOTEBOOK_DELETE, org_id=identity.org_id,
                                        user_id=identity.user_id, cluster_id=n.cluster_id,
                                        params={"notebook_id": n.id,
                                                "cancelled_tasks": open_tasks})
            task.steps = [st.to_dict() for st in delete_steps(cluster_name)]
            s.add(task)
            s.flush()
            n.set_status(NotebookStatus.STOPPING, "Deleting")
            n.last_task_id = task.id
            out = self.view(s, n), task_view(task, cluster_name=cluster_name, detail=True)
        for tid in open_tasks:
            try:
                await self.engine.cancel(tid, identity.org_id)
            except Conflict:
                pass  # it ended meanwhile
        self.engine.start(task.id)
        return out

    # -- open -------------------------------------------------------------------------

    def connection(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            n = self.find(s, identity, ref)
            if n.status != NotebookStatus.RUNNING:
                raise Conflict(f"notebook {n.name!r} is {n.status}, not RUNNING; it can be "
                               "opened once its create task has finished")
            token = self.secrets.decrypt(n.token_enc) if n.token_enc else None
            return {"notebook": n.name, "notebook_id": n.id,
                    "url": (n.details or {}).get("url", ""), "token": token}

    # -- health -----------------------------------------------------------------------

    async def check_running(self) -> list[str]:
        """Mark RUNNING notebooks whose server died as FAILED (their cluster is let go)."""
        with self.store.session() as s:
            rows = s.scalars(select(Notebook).where(
                Notebook.status == NotebookStatus.RUNNING)).all()
            specs = [(self.spec(n), n.provider) for n in rows]
        failed = []
        for spec, provider in specs:
            b = self.backends.get(provider)
            if b is None:
                continue
            reason = await b.check(spec, spec.details)
            if reason and self.set_status(spec.id, NotebookStatus.FAILED, reason,
                                          only_if=(NotebookStatus.RUNNING,)):
                self.log.warning("notebook %s failed: %s", spec.name, reason)
                failed.append(spec.id)
        return failed

    def is_live(self, notebook_id: str) -> bool:
        """Whether a notebook record exists and is not TERMINATED (read now)."""
        with self.store.session() as s:
            status = s.scalar(select(Notebook.status).where(Notebook.id == notebook_id))
        return status is not None and status != NotebookStatus.TERMINATED

    async def sweep_orphans(self) -> list[str]:
        swept: list[str] = []
        for b in self.backends.values():
            swept += await b.sweep_orphans(self.is_live)
        return swept


@functools.lru_cache(maxsize=256)
def notebooks_page(has_cursor: bool, limit: int, include_terminated: bool) -> Select:
    """The statement of a page of notebooks (built once per shape; bound: org_id,
    cursor): the page cut on the (org_id, created_at, id) index, then joined with each
    notebook's cluster (its name) and newest task by primary key."""
    q = select(*LISTED, Notebook.last_task_id).where(Notebook.org_id == bindparam("org_id"))
    if not include_terminated:
        q = q.where(Notebook.status != NotebookStatus.TERMINATED)
    page = keyset(q, Notebook.created_at, Notebook.id, has_cursor, limit).subquery("page")
    return (select(*page.c, Cluster.name.label("cluster_name"),
                   Task.id.label("task_id"), Task.kind.label("task_kind"),
                   Task.status.label("task_status"))
            .select_from(page)
            .outerjoin(Cluster, Cluster.id == page.c.cluster_id)
            .outerjoin(Task, Task.id == page.c.last_task_id)
            .order_by(page.c.created_at.desc(), page.c.id.desc()))


def listed_view(r: Any) -> dict[str, Any]:
    task = ({"id": r.task_id, "kind": r.task_kind, "status": r.task_status}
            if r.task_id else None)
    return notebook_view(r, cluster_name=r.cluster_name, last_task=task)
