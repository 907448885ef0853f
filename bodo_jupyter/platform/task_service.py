"""Task operations as the API offers them: read, follow (long poll), list, cancel."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from sqlalchemy import Select, String, bindparam, or_, select
from sqlalchemy.orm import aliased

from .errors import BadRequest, NotFound
from .identity import Identity
from .models import Cluster, Task, TaskEvent, TaskStatus
from .paging import DEFAULT_LIMIT, Page, keyset
from .store import Store
from .tasks import TaskEngine
from .views import child_view, task_view

# What a list reads of a task: never its params, steps or step states.
LISTED = (Task.id, Task.kind, Task.status, Task.cluster_id, Task.progress, Task.error,
          Task.attempts, Task.user_id, Task.created_at, Task.started_at, Task.finished_at,
          Task.parent_id)


class TaskService:
    def __init__(self, *, store: Store, engine: TaskEngine):
        self.store = store
        self.engine = engine

    def _task(self, s: Any, identity: Identity, task_id: str) -> Task:
        t = s.get(Task, task_id)
        if t is None or t.org_id != identity.org_id:
            raise NotFound(f"task {task_id!r} not found")
        return t

    @staticmethod
    def _cluster_names(s: Any, ids: set[str | None]) -> dict[str, str]:
        ids = {i for i in ids if i}
        if not ids:
            return {}
        return dict(s.execute(select(Cluster.id, Cluster.name).where(Cluster.id.in_(ids))).all())

    def get(self, identity: Identity, task_id: str, since: int = 0) -> dict[str, Any]:
        with self.store.session() as s:
            t = self._task(s, identity, task_id)
            events = list(s.scalars(select(TaskEvent).where(
                TaskEvent.task_id == t.id, TaskEvent.seq > since).order_by(TaskEvent.seq)).all())
            children = list(s.scalars(select(Task).where(Task.parent_id == t.id)
                                      .order_by(Task.created_at, Task.id)).all())
            names = self._cluster_names(s, {t.cluster_id})
            return task_view(t, cluster_name=names.get(t.cluster_id or ""), events=events,
                             detail=True, children=[child_view(c) for c in children])

    async def watch(self, identity: Identity, task_id: str, since: int,
                    wait: float) -> dict[str, Any]:
        """Long poll: return when the task has news after ``since`` or ``wait`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            view = self.get(identity, task_id, since)
            if view["events"] or TaskStatus(view["status"]).done:
                return view
            left = deadline - loop.time()
            if left <= 0:
                return view
            await self.engine.wait_for_task(task_id, left)

    def list(self, identity: Identity, *, status: str | None = None,
             cluster: str | None = None, limit: int = DEFAULT_LIMIT,
             cursor: str | None = None) -> dict[str, Any]:
        """One page in one statement: the tasks with their cluster's name (outer join)."""
        page = Page.of("tasks", limit, cursor)
        statuses: tuple[str, ...] | None = None
        if status:
            statuses = tuple(x.strip().upper() for x in status.split(",") if x.strip())
            known = [st.value for st in TaskStatus]
            bad = [x for x in statuses if x not in known]
            if bad:
                raise BadRequest(f"unknown status {bad[0]!r}; one of: {', '.join(known)}",
                                 field="status")
        extra = {"cluster_ref": cluster} if cluster else {}
        rows = self.store.rows(tasks_page(*page.key, statuses, bool(cluster)),
                               org_id=identity.org_id, **extra, **page.params())
        return page.answer("tasks", rows,
                           lambda t: task_view(t, cluster_name=t.cluster_name))

    async def cancel(self, identity: Identity, task_id: str) -> dict[str, Any]:
        await self.engine.cancel(task_id, identity.org_id)
        return self.get(identity, task_id)


@functools.lru_cache(maxsize=1024)
def tasks_page(has_cursor: bool, limit: int, statuses: tuple[str, ...] | None,
               by_cluster: bool) -> Select:
    """The statement of a page of tasks (built once per shape; bound: org_id, cursor and,
    ``by_cluster``, cluster_ref: a cluster id or name)."""
    q = (select(*LISTED, Cluster.name.label("cluster_name")).select_from(Task)
         .outerjoin(Cluster, Cluster.id == Task.cluster_id)
         .where(Task.org_id == bindparam("org_id")))
    if statuses:
        q = q.where(Task.status.in_(statuses))
    if by_cluster:
        named = aliased(Cluster)
        ref = bindparam("cluster_ref", type_=String)
        q = q.where(Task.cluster_id.in_(select(named.id).where(
            named.org_id == bindparam("org_id"), or_(named.id == ref, named.name == ref))))
    return keyset(q, Task.created_at, Task.id, has_cursor, limit)
