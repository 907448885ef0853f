"""``bodo-jupyter job ...``: code from Git or S3 as ``mpiexec -n <CORE_COUNT> python``."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from bodo_jupyter.contract import forms, models
from bodo_jupyter.sdk import APIError

from .app import json_option, main, platform
from .forms import build, form_params
from .output import emit_json, follow, out, short_time, styled


@main.group()
def job() -> None:
    """Run code from Git or S3 as `mpiexec -n <CORE_COUNT> python <command>`."""


def run_line(r: Any) -> str:
    d = r.data
    bits = [d.id, styled(str(d.status))]
    if d.exit_code is not None:
        bits.append(f"exit {d.exit_code}")
    if d.reason:
        bits.append(d.reason)
    return "  ".join(bits)


def where(d: models.Job) -> str:
    if d.cluster is not None:
        return d.cluster.name
    assert d.new_cluster is not None
    return f"new {d.new_cluster.instances} x {d.new_cluster.instance_type}"


@job.command("create", help=forms.JOB_CREATE.help
             + " With no --at/--cron it runs now; give --cluster NAME (an existing cluster) "
             "or --instance-type TYPE (a new cluster for each run).")
@form_params(forms.JOB_CREATE)
@click.option("--wait", is_flag=True, help="With no schedule: follow the run until it ends.")
@json_option
@click.pass_context
def job_create(ctx: click.Context, wait: bool, as_json: bool, **params: Any) -> None:
    req = build(forms.JOB_CREATE, params)
    assert isinstance(req, models.CreateJobRequest)
    j = platform(ctx).jobs.create_from(req)
    run = j.last_run
    d = j.data
    if not as_json:
        for n in j.notices:
            out.print(f"[yellow]note:[/] {n}", highlight=False)
        sched = d.schedule
        when = {"now": "now", "at": f"at {sched.at}",
                "cron": f"on '{sched.cron}' ({sched.timezone}), next {sched.next_run_at}"
                }[str(sched.type)]
        out.print(f"Job {d.name} ({d.id}) runs {when}: {d.command_line}", highlight=False)
        if run:
            out.print(f"run {run.id} {styled(run.status)}")
    if wait and run is not None:
        if as_json:
            run.task().wait(raise_on_error=False)
        else:
            follow(run.task())
        run.refresh()
        if not as_json:
            out.print(f"run {run_line(run)}")
    if as_json:
        notices = j.notices
        emit_json({**j.refresh().data.to_dict(), "notices": notices})
    if run is not None and run.done and run.status != "FINISHED":
        raise APIError(f"run {run.id} {run.status}: {run.data.reason}")


@job.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@json_option
@click.pass_context
def job_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Jobs of your organisation, newest first."""
    jobs = platform(ctx).jobs.list(limit=limit)
    if as_json:
        emit_json([j.data.to_dict() for j in jobs])
        return
    if not jobs:
        out.print("No jobs. Create one with `bodo-jupyter job create`.")
        return
    t = Table("NAME", "SCHEDULE", "NEXT RUN", "CLUSTER", "LAST RUN", "COMMAND", box=None)
    for j in jobs:
        d = j.data
        sched = d.schedule
        kind = str(sched.type) if sched.type != "cron" else f"cron {sched.cron}"
        if not sched.active and sched.type != "now":
            kind += " (inactive)"
        last = d.last_run
        t.add_row(d.name, kind, short_time(sched.next_run_at), where(d),
                  styled(str(last.status)) if last else "", d.command)
    out.print(t)


@job.command("show")
@click.argument("name")
@json_option
@click.pass_context
def job_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A job in full (the Git password is never shown)."""
    j = platform(ctx).jobs.get(name)
    d = j.data
    if as_json:
        emit_json(d.to_dict())
        return
    sched = d.schedule
    rows = [("name", d.name), ("id", d.id), ("command", d.command_line),
            ("path", d.path + (f" @ {d.ref}" if d.ref else "")),
            ("cluster", d.cluster.name if d.cluster else
             f"new for each run: {where(d)[4:]}"),
            ("schedule", str(sched.type) + (f" {sched.cron} ({sched.timezone})"
                                            if sched.cron else "")
             + (f" {sched.at}" if sched.at else "")),
            ("active", "yes" if sched.active else "no"),
            ("next run", sched.next_run_at or ""),
            ("git user", d.git_username or ""),
            ("git password", "set (encrypted)" if d.git_password_set else ""),
            ("env", " ".join(f"{k}={v}" for k, v in d.env.items())),
            ("timeout", f"{d.timeout_s}s" if d.timeout_s else ""),
            ("retries", f"{d.retries} (delay {d.retry_delay_s}s)" if d.retries else "")]
    last = j.last_run
    if last:
        rows.append(("last run", run_line(last)))
    for k, v in rows:
        if v:
            out.print(f"{k:14}{v}", highlight=False)


@job.command("runs")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many, newest first.")
@json_option
@click.pass_context
def job_runs(ctx: click.Context, name: str, limit: int, as_json: bool) -> None:
    """History of a job's runs, newest first."""
    runs = platform(ctx).jobs.get(name).runs(limit=limit)
    if as_json:
        emit_json([r.data.to_dict() for r in runs])
        return
    if not runs:
        out.print("No runs yet.")
        return
    t = Table("RUN", "STATUS", "TRIGGER", "STARTED", "EXIT", "REASON", box=None)
    for r in runs:
        d = r.data
        t.add_row(d.id, styled(str(d.status)), str(d.trigger), short_time(d.started_at),
                  "" if d.exit_code is None else str(d.exit_code), d.reason or "")
    out.print(t)


@job.command("logs")
@click.argument("name")
@click.option("--run", "run_id", default="latest", show_default=True, help="Which run.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.pass_context
def job_logs(ctx: click.Context, name: str, run_id: str, follow: bool) -> None:
    """The full output of a run, every rank's line prefixed with its rank."""
    run = platform(ctx).jobs.get(name).run(run_id)
    for chunk in run.logs(follow=follow):
        sys.stdout.write(chunk)
        sys.stdout.flush()


@job.command("run")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Follow the run until it ends.")
@click.pass_context
def job_run_now(ctx: click.Context, name: str, wait: bool) -> None:
    """Run a job now (also a scheduled or inactive one)."""
    run = platform(ctx).jobs.get(name).run_now()
    out.print(f"run {run.id} {styled(run.status)}")
    if wait:
        follow(run.task())
        out.print(f"run {run_line(run.refresh())}")


@job.command("cancel")
@click.argument("name")
@click.pass_context
def job_cancel(ctx: click.Context, name: str) -> None:
    """Cancel the job's active runs (their dedicated clusters are deleted)."""
    res = platform(ctx).jobs.get(name).cancel()
    out.print(f"Cancelling {len(res.cancelled_tasks)} run(s) of job {name}")


@job.command("deactivate")
@click.argument("name")
@click.pass_context
def job_deactivate(ctx: click.Context, name: str) -> None:
    """Stop scheduling new runs of a job."""
    platform(ctx).jobs.get(name).set_active(False)
    out.print(f"Job {name} is inactive.")


@job.command("activate")
@click.argument("name")
@click.pass_context
def job_activate(ctx: click.Context, name: str) -> None:
    """Schedule a job again, from its next due time on."""
    j = platform(ctx).jobs.get(name).set_active(True)
    out.print(f"Job {name} is active; next run {j.data.schedule.next_run_at}.")


@job.command("delete")
@click.argument("name")
@click.pass_context
def job_delete(ctx: click.Context, name: str) -> None:
    """Delete a job: cancel its runs, remove its logs and stored secret."""
    res = platform(ctx).jobs.delete(name)
    out.print(f"Job {name} deleted" + (f"; cancelled {len(res.cancelled_tasks)} run(s)"
                                       if res.cancelled_tasks else "") + ".")
