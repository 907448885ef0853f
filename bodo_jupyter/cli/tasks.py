"""``bodo-jupyter task ...``: list, show and cancel tasks."""

from __future__ import annotations

import click
from rich.table import Table

from .app import json_option, main, platform
from .output import emit_json, out, short_time, styled


@main.group()
def task() -> None:
    """List, show and cancel tasks."""


@task.command("list")
@click.option("--status", default=None, help="Only these statuses (comma-separated).")
@click.option("--cluster", "cluster_ref", default=None, help="Only tasks of this cluster.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@json_option
@click.pass_context
def task_list(ctx: click.Context, status: str | None, cluster_ref: str | None, limit: int,
              as_json: bool) -> None:
    """Tasks of your organisation, newest first."""
    tasks = platform(ctx).tasks.list(status=status, cluster=cluster_ref, limit=limit)
    if as_json:
        emit_json([t.data.to_dict() for t in tasks])
        return
    if not tasks:
        out.print("No tasks.")
        return
    t = Table("ID", "KIND", "CLUSTER", "STATUS", "PROGRESS", "CREATED", "ERROR", box=None)
    for tk in tasks:
        d = tk.data
        t.add_row(d.id, str(d.kind), d.cluster_name or "", styled(str(d.status)),
                  f"{100 * d.progress:.0f}%", short_time(d.created_at), (d.error or "")[:60])
    out.print(t)


@task.command("show")
@click.argument("task_id")
@json_option
@click.pass_context
def task_show(ctx: click.Context, task_id: str, as_json: bool) -> None:
    """A task with its steps, the tasks it started, and every event."""
    tk = platform(ctx).tasks.get(task_id)
    d = tk.data
    if as_json:
        emit_json(d.to_dict())
        return
    out.print(f"task {d.id}  {d.kind}  {styled(str(d.status))}  {100 * d.progress:.0f}%",
              highlight=False)
    if d.cluster_name:
        out.print(f"cluster {d.cluster_name} ({d.cluster_id})", highlight=False)
    if d.parent_id:
        out.print(f"started by task {d.parent_id}", highlight=False)
    if d.error:
        out.print(f"[red]error:[/] {d.error}", highlight=False)
    marks = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "started": "[cyan]…[/]",
             "pending": "[dim]·[/]"}
    out.print("steps:")
    for s in d.steps or []:
        out.print(f"  {marks.get(str(s.state), '?')} {s.title}"
                  + (f" [dim]— {s.message}[/]" if s.message and s.state != "pending" else ""),
                  highlight=False)
    if d.children:
        out.print("tasks it started:")
        for c in d.children:
            out.print(f"  {c.id} {c.kind} {styled(str(c.status))}"
                      + (f" [dim]— {c.error}[/]" if c.error else ""), highlight=False)
    out.print("events:")
    for ev in d.events or []:
        out.print(f"  {ev.time[11:23]} {ev.step:16} {ev.state:9} {ev.message}",
                  highlight=False)


@task.command("cancel")
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Wait until the task has rolled back.")
@click.pass_context
def task_cancel(ctx: click.Context, task_id: str, wait: bool) -> None:
    """Cancel a task (and the tasks it started); what it made is rolled back."""
    tk = platform(ctx).tasks.get(task_id).cancel()
    out.print(f"Cancelling task {tk.id}")
    if wait:
        tk.wait(raise_on_error=False)
        out.print(f"task {tk.id} {styled(tk.status)}")
