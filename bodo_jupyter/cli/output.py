"""How the CLI talks to people: consoles, colours, tables, one-line errors, progress."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bodo_jupyter.contract import models
from bodo_jupyter.sdk import Task, TaskFailed

out = Console()
if not out.is_terminal:  # pipes and CI logs: do not squeeze tables into 80 columns
    out = Console(width=200)
err = Console(stderr=True)

STATUS_STYLE = {"RUNNING": "green", "FINISHED": "green", "FAILED": "red", "CANCELLED": "yellow",
                "INPROGRESS": "cyan", "NEW": "blue", "STOPPING": "yellow", "TERMINATED": "dim"}


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def short_time(iso: str | None) -> str:
    """'2026-11-25T15:31:49.29Z' -> '2026-11-25 15:31:49' for tables."""
    return (iso or "")[:19].replace("T", " ")


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def follow(task: Task, timeout: float | None = None) -> Task:
    """Wait for a task, showing its steps; raises TaskFailed when it does not finish.

    In a terminal a progress bar; in a pipe one line per event.
    """
    titles = {s.name: s.title for s in task.data.steps or []}
    total = max(1, len(titles))
    if out.is_terminal:
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()]
        with Progress(*columns, console=out, transient=False) as bar:
            pid = bar.add_task(f"{task.data.kind} {task.id}", total=100)

            def show(t: Task, ev: models.TaskEvent) -> None:
                label = titles.get(ev.step, ev.step)
                msg = ev.message if ev.state in ("progress", "info", "failed") else label
                bar.update(pid, completed=100 * ev.progress,
                           description=f"{t.data.kind} [dim]{ev.step}[/]: {msg}"[:120])

            task.wait(timeout, raise_on_error=False, on_event=show)
            bar.update(pid, completed=100 * task.data.progress,
                       description=f"{task.data.kind} {task.id} {styled(task.status)}")
    else:
        def show_plain(t: Task, ev: models.TaskEvent) -> None:
            click.echo(f"[{100 * ev.progress:3.0f}%] {ev.step}: {ev.state} "
                       f"{ev.message}".rstrip())

        task.wait(timeout, raise_on_error=False, on_event=show_plain)
        click.echo(f"{task.data.kind} {task.id} {task.status} ({total} steps)")
    if task.status != "FINISHED":
        raise TaskFailed(f"{task.data.kind} {task.status}: "
                         f"{task.data.error or 'no reason given'}", task.status.lower(), task)
    return task
