"""``bodo-jupyter notebook ...``: create, list, show, open and delete notebooks."""

from __future__ import annotations

import webbrowser
from typing import Any

import click
from rich.table import Table

from bodo_jupyter.contract import forms, models
from bodo_jupyter.sdk.client import lab_url

from .app import json_option, main, platform
from .forms import build, form_params
from .output import emit_json, follow, out, short_time, styled


@main.group()
def notebook() -> None:
    """Create, list, show, open and delete notebooks."""


def notebook_table(notebooks: list[Any]) -> Table:
    t = Table("NAME", "STATUS", "TYPE", "CLUSTER", "CREATED", box=None)
    for n in notebooks:
        d = n.data
        t.add_row(d.name, styled(str(d.status)), d.instance_type,
                  d.cluster.name if d.cluster else "", short_time(d.created_at))
    return t


@notebook.command("instance-types")
@click.option("--provider", default=None, help="A provider (default: the platform's).")
@json_option
@click.pass_context
def notebook_instance_types(ctx: click.Context, provider: str | None, as_json: bool) -> None:
    """The node shapes a notebook may have."""
    types = platform(ctx).notebooks.instance_types(provider)
    if as_json:
        emit_json([t.to_dict() for t in types])
        return
    t = Table("NAME", "CORES", "MEMORY (GiB)", "DESCRIPTION", box=None)
    for it in types:
        t.add_row(it.name, str(it.cores), f"{it.memory_gib:g}", it.description)
    out.print(t)


@notebook.command("create", help=forms.NOTEBOOK_CREATE.help)
@form_params(forms.NOTEBOOK_CREATE)
@click.option("--wait", is_flag=True, help="Follow the create task until it ends.")
@click.option("--timeout", "wait_timeout", type=float, default=None,
              help="With --wait: give up after seconds.")
@json_option
@click.pass_context
def notebook_create(ctx: click.Context, wait: bool, wait_timeout: float | None,
                    as_json: bool, **params: Any) -> None:
    req = build(forms.NOTEBOOK_CREATE, params)
    assert isinstance(req, models.CreateNotebookRequest)
    p = platform(ctx)
    n = p.notebooks.create_from(req)
    d = n.data
    if not as_json:
        on = f", attached to cluster {d.cluster.name}" if d.cluster else ""
        out.print(f"Notebook {d.name} ({d.id}): {d.instance_type}{on}; task {n.task.id} "
                  f"{styled(n.task.status)}")
    if wait:
        if as_json:
            n.task.wait(wait_timeout)
        else:
            follow(n.task, wait_timeout)
        n.refresh()
        if not as_json:
            out.print(f"Notebook {d.name} is {styled(n.status)}. Open it with "
                      f"`bodo-jupyter notebook open {d.name}`.")
    if as_json:
        emit_json({"notebook": n.data.to_dict(), "task": n.task.refresh().data.to_dict()})


@notebook.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deleted notebooks.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@json_option
@click.pass_context
def notebook_list(ctx: click.Context, show_all: bool, limit: int, as_json: bool) -> None:
    """Notebooks of your organisation, with the cluster each is attached to."""
    notebooks = platform(ctx).notebooks.list(all=show_all, limit=limit)
    if as_json:
        emit_json([n.data.to_dict() for n in notebooks])
        return
    if not notebooks:
        out.print("No notebooks. Create one with `bodo-jupyter notebook create NAME "
                  "--instance-type local.notebook --wait`.")
        return
    out.print(notebook_table(notebooks))


@notebook.command("show")
@click.argument("name")
@json_option
@click.pass_context
def notebook_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One notebook in full, with its latest task."""
    d = platform(ctx).notebooks.get(name).data
    if as_json:
        emit_json(d.to_dict())
        return
    rows = [("name", d.name), ("id", d.id), ("status", styled(str(d.status))),
            ("message", d.status_message or ""), ("provider", d.provider),
            ("instance type", d.instance_type),
            ("cluster", f"{d.cluster.name} ({d.cluster.id})" if d.cluster else ""),
            ("created", d.created_at or ""), ("ready", d.ready_at or ""),
            ("terminated", d.terminated_at or "")]
    if d.last_task:
        lt = d.last_task
        rows.append(("last task", f"{lt.id} {lt.kind} {styled(str(lt.status))}"))
    for k, v in rows:
        if v:
            out.print(f"{k:16}{v}", highlight=False)


@notebook.command("open")
@click.argument("name")
@click.option("--no-browser", is_flag=True, help="Only print the URL.")
@click.pass_context
def notebook_open(ctx: click.Context, name: str, no_browser: bool) -> None:
    """Print the notebook's URL (with its token, without a hub: keep it to yourself) and
    open it in a browser when there is one."""
    conn = platform(ctx).notebooks.get(name).connection()
    url = lab_url(conn.url, conn.token)
    click.echo(url)
    if not no_browser:
        try:
            webbrowser.get()
        except webbrowser.Error:
            return  # no browser here: the URL is printed
        webbrowser.open(url, new=2)


@notebook.command("delete")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Follow the delete task until it ends.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@click.pass_context
def notebook_delete(ctx: click.Context, name: str, wait: bool, timeout: float | None) -> None:
    """Stop a notebook's server and kernels and let go of its cluster (the notebook files
    stay)."""
    task = platform(ctx).notebooks.delete(name)
    out.print(f"Deleting notebook {name}: task {task.id} {styled(task.status)}")
    if wait:
        follow(task, timeout)
        out.print(f"Notebook {name} deleted.")
