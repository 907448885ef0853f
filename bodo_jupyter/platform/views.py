"""Records as the API shows them: plain dicts, built inside a session.

This is the one place that decides what leaves the control plane, so it is
also where secrets are kept out: nothing here reads a secret column, and
cluster ``details`` (file paths, provider ids) stay internal.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_

from .errors import BadRequest
from .models import Cluster, Task, TaskEvent


def iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def cluster_view(c: Cluster, last_task: Task | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "provider": c.provider,
        "instance_type": c.instance_type,
        "instances": c.instances,
        "cores_per_instance": c.cores_per_instance,
        "core_count": c.core_count,
        "efa": c.efa,
        "status": c.status,
        "status_message": c.status_message,
        "created_by": c.created_by,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "ready_at": iso(c.ready_at),
        "terminated_at": iso(c.terminated_at),
        "last_task": None,
    }
    if last_task is not None:
        out["last_task"] = {"id": last_task.id, "kind": last_task.kind,
                            "status": last_task.status}
    return out


def event_view(e: TaskEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "time": iso(e.time),
        "step": e.step,
        "state": e.state,
        "message": e.message,
        "progress": round(e.progress, 4),
    }


def step_states(task: Task, events: list[TaskEvent]) -> list[dict[str, Any]]:
    """Each declared step with where it got to: pending, started, done or failed."""
    state: dict[str, str] = {}
    message: dict[str, str] = {}
    for e in events:
        if e.state in ("started", "done", "failed"):
            state[e.step] = e.state
            message[e.step] = e.message
        elif e.state == "progress":
            message[e.step] = e.message
    return [
        {"name": s["name"], "title": s["title"], "state": state.get(s["name"], "pending"),
         "message": message.get(s["name"], "")}
        for s in task.steps or []
    ]


def task_view(t: Task, *, cluster_name: str | None = None,
              events: list[TaskEvent] | None = None,
              all_events: list[TaskEvent] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "kind": t.kind,
        "status": t.status,
        "cluster_id": t.cluster_id,
        "cluster_name": cluster_name,
        "progress": round(t.progress, 4),
        "error": t.error,
        "attempts": t.attempts,
        "created_by": t.user_id,
        "created_at": iso(t.created_at),
        "started_at": iso(t.started_at),
        "finished_at": iso(t.finished_at),
    }
    if all_events is not None:
        out["steps"] = step_states(t, all_events)
        out["last_seq"] = all_events[-1].seq if all_events else 0
    if events is not None:
        out["events"] = [event_view(e) for e in events]
    return out


# -- pagination -------------------------------------------------------------------


def encode_cursor(created_at: datetime, id_: str) -> str:
    raw = json.dumps([created_at.isoformat(), id_]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def apply_cursor(q: Select, model: Any, cursor: str | None) -> Select:
    """Newest first; the cursor is where the previous page stopped."""
    if cursor:
        try:
            pad = "=" * (-len(cursor) % 4)
            created, id_ = json.loads(base64.urlsafe_b64decode(cursor + pad))
            created_at = datetime.fromisoformat(created)
        except (ValueError, TypeError) as e:
            raise BadRequest("invalid cursor: pass the 'next' value of the previous page",
                             field="cursor") from e
        q = q.where(or_(model.created_at < created_at,
                        and_(model.created_at == created_at, model.id < id_)))
    return q.order_by(model.created_at.desc(), model.id.desc())


def page(rows: list[Any], limit: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``rows`` were fetched with limit+1 so that we know whether more exist."""
    more = len(rows) > limit
    nxt = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if more else None
    return {"items": items[:limit], "next": nxt}
