"""Task operations as the API offers them: read, follow (long poll), list, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from .errors import BadRequest, NotFound
from .identity import Identity
from .models import Cluster, Task, TaskEvent, TaskStatus
from .store import Store
from .tasks import TaskEngine
from .validation import check_int
from .views import apply_cursor, child_view, page, task_view


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
             cluster: str | None = None, limit: int = 50,
             cursor: str | None = None) -> dict[str, Any]:
        limit = check_int(limit, "limit", minimum=1, maximum=500)
        q = select(Task).where(Task.org_id == identity.org_id)
        if status:
            statuses = [x.strip().upper() for x in status.split(",") if x.strip()]
            known = [st.value for st in TaskStatus]
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
                q = q.where(Task.cluster_id.in_(ids))
            q = apply_cursor(q, Task, cursor).limit(limit + 1)
            rows = list(s.scalars(q).all())
            names = self._cluster_names(s, {t.cluster_id for t in rows})
            return page(rows, limit, [task_view(t, cluster_name=names.get(t.cluster_id or ""))
                                      for t in rows])

    async def cancel(self, identity: Identity, task_id: str) -> dict[str, Any]:
        await self.engine.cancel(task_id, identity.org_id)
        return self.get(identity, task_id)
