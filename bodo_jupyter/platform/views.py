"""Records as the API shows them: plain dicts, built inside a session from records, or
from the rows a list read (which hold only the columns lists show; see paging.py).

This is the one place that decides what leaves the control plane, so it is
also where secrets are kept out: nothing here reads a secret column, and
cluster ``details`` (file paths, provider ids) stay internal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import Job, JobRun, Task, TaskEvent


def iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def cluster_view(c: Any, last_task: dict[str, Any] | None = None,
                 holder: dict[str, Any] | None = None) -> dict[str, Any]:
    """``c`` is a Cluster or a row of its listed columns (never ``details``)."""
    made_for = c.made_for or {}
    dedicated_to = None
    if made_for.get("kind") == "job_run":
        dedicated_to = {"run_id": made_for["id"], "job_id": made_for.get("job_id"),
                        "job_name": made_for.get("job_name")}
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "provider": c.provider,
        "instance_type": c.instance_type,
        "instances": c.instances,
        "cores_per_instance": c.cores_per_instance,
        "core_count": c.instances * c.cores_per_instance,
        "efa": c.efa,
        "bodo_version": c.bodo_version,
        "status": c.status,
        "status_message": c.status_message,
        "created_by": c.created_by,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "ready_at": iso(c.ready_at),
        "terminated_at": iso(c.terminated_at),
        "last_task": last_task,
        # Set when the cluster was made for one job run and goes away with it.
        "dedicated_to": dedicated_to,
        # Who has the cluster now (a job run, a notebook), or null when it is free.
        "holder": holder,
    }
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


def step_states(task: Task) -> list[dict[str, Any]]:
    """Each declared step with where it got to: pending, started, done or failed."""
    state = task.step_state or {}
    return [
        {"name": s["name"], "title": s["title"],
         "state": state.get(s["name"], {}).get("state", "pending"),
         "message": state.get(s["name"], {}).get("message", "")}
        for s in task.steps or []
    ]


def task_view(t: Any, *, cluster_name: str | None = None,
              events: list[TaskEvent] | None = None, detail: bool = False,
              children: list[dict[str, Any]] | None = None) -> dict[str, Any]:
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
        "parent_id": t.parent_id,
    }
    if detail:
        out["steps"] = step_states(t)
        out["last_seq"] = t.last_seq or 0
    if events is not None:
        out["events"] = [event_view(e) for e in events]
    if children is not None:
        out["children"] = children
    return out


def child_view(t: Task) -> dict[str, Any]:
    """A child task in brief, as its parent lists it."""
    return {"id": t.id, "kind": t.kind, "status": t.status, "cluster_id": t.cluster_id,
            "progress": round(t.progress, 4), "error": t.error}


def job_item(j: Any, *, cluster_name: str | None, last_run: dict[str, Any] | None,
             git_password_set: bool) -> dict[str, Any]:
    """A job as lists show it: ``j`` is a Job or a row of its listed columns. Lists
    read neither ``env`` nor ``argv`` (nor the password): they may be large."""
    return {
        "id": j.id,
        "name": j.name,
        "cluster": ({"id": j.cluster_id, "name": cluster_name} if j.cluster_id else None),
        "new_cluster": ({**{k: j.cluster_spec[k] for k in
                            ("provider", "instance_type", "instances", "efa")},
                         # Jobs made before clusters had a Bodo version asked for none.
                         "bodo_version": j.cluster_spec.get("bodo_version")}
                        if j.cluster_spec else None),
        "schedule": {
            "type": j.schedule_type,
            "at": iso(j.run_at),
            "cron": j.cron,
            "timezone": j.timezone,
            "max_concurrent_runs": j.max_concurrent_runs,
            "active": j.active,
            "next_run_at": iso(j.next_run_at),
        },
        "command": j.command,
        "source_type": j.source_type,
        "path": j.path,
        "ref": j.ref,
        "git_username": j.git_username,
        "git_password_set": git_password_set,
        "timeout_s": j.timeout_s,
        "retries": j.retries,
        "retry_delay_s": j.retry_delay_s,
        "created_by": j.created_by,
        "created_at": iso(j.created_at),
        "updated_at": iso(j.updated_at),
        "last_run": last_run,
    }


def job_view(j: Job, *, cluster_name: str | None,
             last_run: dict[str, Any] | None) -> dict[str, Any]:
    """A job read on its own: the list item plus its command line and environment.
    The Git password is never shown, only whether one is set."""
    import shlex

    out = job_item(j, cluster_name=cluster_name, last_run=last_run,
                   git_password_set=j.git_password_enc is not None)
    out["command_line"] = f"mpiexec -n <CORE_COUNT> python {shlex.join(j.argv)}"
    out["env"] = dict(j.env or {})
    return out


def run_view(r: JobRun | Any, *, job_name: str, cluster_name: str | None,
             log_size: int | None = None) -> dict[str, Any]:
    out = {
        "id": r.id,
        "job_id": r.job_id,
        "job_name": job_name,
        "status": r.status,
        "phase": r.phase,
        "trigger": r.trigger,
        "due_at": iso(r.due_at),
        "reason": r.reason,
        "exit_code": r.exit_code,
        "command_line": r.command_line,
        "source_revision": r.source_revision,
        "cluster": {"id": r.cluster_id, "name": cluster_name} if r.cluster_id else None,
        "attempts": r.attempts,
        "task_id": r.task_id,
        "created_at": iso(r.created_at),
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
    }
    if log_size is not None:
        out["log_size"] = log_size
    return out



def notebook_view(n: Any, *, cluster_name: str | None,
                  last_task: dict[str, Any] | None) -> dict[str, Any]:
    """``n`` is a Notebook or a row of its listed columns. Never its server's
    environment, token or ``details`` (process, port)."""
    return {
        "id": n.id,
        "name": n.name,
        "provider": n.provider,
        "instance_type": n.instance_type,
        "cluster": ({"id": n.cluster_id, "name": cluster_name} if n.cluster_id else None),
        "status": n.status,
        "status_message": n.status_message,
        "created_by": n.created_by,
        "created_at": iso(n.created_at),
        "updated_at": iso(n.updated_at),
        "ready_at": iso(n.ready_at),
        "terminated_at": iso(n.terminated_at),
        "last_task": last_task,
    }
