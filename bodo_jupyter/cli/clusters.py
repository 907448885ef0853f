"""``bodo-jupyter cluster ...``: create, list, show and delete clusters."""

from __future__ import annotations

import uuid
from typing import Any

import click
from rich.table import Table

from bodo_jupyter.contract import forms, models

from .app import json_option, main, platform
from .forms import build, form_params
from .output import emit_json, follow, out, short_time, styled


@main.group()
def cluster() -> None:
    """Create, list, show and delete clusters."""


def holder_of(c: models.Cluster) -> str:
    return c.holder.label if c.holder is not None else ""


def cluster_table(clusters: list[Any]) -> Table:
    t = Table("NAME", "STATUS", "PROVIDER", "INSTANCES", "TYPE", "RANKS", "BODO", "HELD BY",
              "CREATED", box=None)
    for c in clusters:
        d = c.data
        t.add_row(d.name, styled(str(d.status)), d.provider, str(d.instances), d.instance_type,
                  str(d.core_count), d.bodo_version or "", holder_of(d),
                  short_time(d.created_at))
    return t


@cluster.command("create", help=forms.CLUSTER_CREATE.help)
@form_params(forms.CLUSTER_CREATE)
@click.option("--wait", is_flag=True, help="Follow the create task until it ends.")
@click.option("--timeout", "wait_timeout", type=float, default=None,
              help="With --wait: give up after seconds.")
@json_option
@click.pass_context
def cluster_create(ctx: click.Context, wait: bool, wait_timeout: float | None, as_json: bool,
                   **params: Any) -> None:
    req = build(forms.CLUSTER_CREATE, params)
    assert isinstance(req, models.CreateClusterRequest)
    req.client_token = uuid.uuid4().hex  # a retry after a lost answer makes no second one
    p = platform(ctx)
    c = p.clusters.create_from(req)
    d = c.data
    if not as_json:
        bodo = f", Bodo {d.bodo_version}" if d.bodo_version else ""
        out.print(f"Cluster {d.name} ({d.id}): {d.instances} x {d.instance_type}, "
                  f"{d.core_count} MPI ranks{bodo}; task {c.task.id} {styled(c.task.status)}")
    if wait:
        if as_json:
            c.task.wait(wait_timeout)
        else:
            follow(c.task, wait_timeout)
        c.refresh()
        if not as_json:
            out.print(f"Cluster {d.name} is {styled(c.status)}. Attach from a notebook with "
                      f"`%load_ext bodo_jupyter` and `%bodo attach {d.name}`.")
    if as_json:
        emit_json({"cluster": c.data.to_dict(), "task": c.task.refresh().data.to_dict()})


@cluster.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include terminated clusters.")
@click.option("--status", default=None, help="Only these statuses (comma-separated).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@json_option
@click.pass_context
def cluster_list(ctx: click.Context, show_all: bool, status: str | None, limit: int,
                 as_json: bool) -> None:
    """Clusters of your organisation, with what holds each (a job run, a notebook)."""
    clusters = platform(ctx).clusters.list(status=status, all=show_all, limit=limit)
    if as_json:
        emit_json([c.data.to_dict() for c in clusters])
        return
    if not clusters:
        out.print("No clusters. Create one with `bodo-jupyter cluster create NAME "
                  "--instance-type local.medium --instances 2 --wait`.")
        return
    out.print(cluster_table(clusters))


@cluster.command("show")
@click.argument("name")
@json_option
@click.pass_context
def cluster_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One cluster in full, with its latest task."""
    c = platform(ctx).clusters.get(name)
    d = c.data
    if as_json:
        emit_json(d.to_dict())
        return
    rows = [("name", d.name), ("id", d.id), ("status", styled(str(d.status))),
            ("message", d.status_message or ""), ("provider", d.provider),
            ("instance type", d.instance_type), ("instances", str(d.instances)),
            ("cores per instance", str(d.cores_per_instance)),
            ("MPI ranks (CORE_COUNT)", str(d.core_count)), ("EFA", "yes" if d.efa else "no"),
            ("Bodo", d.bodo_version or "none"),
            ("held by", holder_of(d)),
            ("made for", f"job {d.dedicated_to.job_name} (run {d.dedicated_to.run_id})"
             if d.dedicated_to else ""),
            ("created", d.created_at or ""), ("ready", d.ready_at or "")]
    if d.terminated_at:
        rows.append(("terminated", d.terminated_at))
    if d.last_task:
        lt = d.last_task
        rows.append(("last task", f"{lt.id} {lt.kind} {styled(str(lt.status))}"))
    for k, v in rows:
        if v:
            out.print(f"{k:24}{v}", highlight=False)


@cluster.command("delete")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Follow the delete task until it ends.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@click.pass_context
def cluster_delete(ctx: click.Context, name: str, wait: bool, timeout: float | None) -> None:
    """Delete a cluster and everything made for it (refused while a job run or a notebook
    holds it)."""
    task = platform(ctx).clusters.delete(name)
    out.print(f"Deleting cluster {name}: task {task.id} {styled(task.status)}")
    if wait:
        follow(task, timeout)
        out.print(f"Cluster {name} deleted.")
