"""The ``bodo-jupyter`` command line, a thin layer over :mod:`bodo_jupyter.client`.

Reads take ``--json`` for scripts; ``--wait`` follows a task step by step
with a progress bar and exits non-zero when it fails. Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .client import Cluster, JobRun, Platform, PlatformError, Task, TaskFailed

out = Console()
if not out.is_terminal:  # pipes and CI logs: do not squeeze tables into 80 columns
    out = Console(width=200)
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


class CLIGroup(click.Group):
    """Turns client errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaskFailed as e:
            fail(f"{e.task.kind} {e.task.status}: {e.task.error or 'no reason given'} "
                 f"(see `bodo-jupyter task show {e.task.id}`)")
        except PlatformError as e:
            fail(e.message)
        except KeyboardInterrupt:
            fail("interrupted", 130)


def platform(ctx: click.Context) -> Platform:
    obj = ctx.find_root().obj or {}
    if "platform" not in obj:
        obj["platform"] = Platform(url=obj.get("url"))
        ctx.find_root().obj = obj
    return obj["platform"]  # type: ignore[no-any-return]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


STATUS_STYLE = {"RUNNING": "green", "FINISHED": "green", "FAILED": "red", "CANCELLED": "yellow",
                "INPROGRESS": "cyan", "NEW": "blue", "STOPPING": "yellow", "TERMINATED": "dim"}


def short_time(iso: str | None) -> str:
    """'2026-11-25T15:31:49.29Z' -> '2026-11-25 15:31:49' for tables."""
    return (iso or "")[:19].replace("T", " ")


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


# -- following a task ---------------------------------------------------------------


def follow(task: Task, timeout: float | None = None) -> Task:
    """Wait for a task, showing its steps; raises TaskFailed when it does not finish."""
    titles = {s["name"]: s["title"] for s in task.steps}
    total = max(1, len(titles))
    if out.is_terminal:
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn()]
        with Progress(*columns, console=out, transient=False) as bar:
            pid = bar.add_task(f"{task.kind} {task.id}", total=100)

            def show(t: Task, ev: dict[str, Any]) -> None:
                label = titles.get(ev["step"], ev["step"])
                msg = ev["message"] if ev["state"] in ("progress", "info", "failed") else label
                bar.update(pid, completed=100 * ev["progress"],
                           description=f"{t.kind} [dim]{ev['step']}[/]: {msg}"[:120])

            task.wait(timeout, raise_on_error=False, on_event=show)
            bar.update(pid, completed=100 * task.progress,
                       description=f"{task.kind} {task.id} {styled(task.status)}")
    else:
        def show_plain(t: Task, ev: dict[str, Any]) -> None:
            click.echo(f"[{100 * ev['progress']:3.0f}%] {ev['step']}: {ev['state']} "
                       f"{ev['message']}".rstrip())

        task.wait(timeout, raise_on_error=False, on_event=show_plain)
        click.echo(f"{task.kind} {task.id} {task.status} ({total} steps)")
    if task.status != "FINISHED":
        raise TaskFailed(task)
    return task


# -- root -----------------------------------------------------------------------------


@click.group(cls=CLIGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="BODO_JUPYTER_URL", default=None,
              help="API URL (default: $BODO_JUPYTER_URL or the running control plane). "
              "The token is read from $BODO_JUPYTER_TOKEN, never from a flag.")
@click.version_option(package_name="bodo-jupyter")
@click.pass_context
def main(ctx: click.Context, url: str | None) -> None:
    """bodo-jupyter: MPI clusters, notebooks and jobs from Jupyter."""
    ctx.obj = {"url": url}


@main.command()
@click.option("--ip", default=None, help="Interface to listen on [127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [8765]; 0 picks one.")
@click.option("--data-dir", default=None, help="Data directory (database, cluster files).")
@click.option("--config", "config_file", default="", help="A bodo_jupyter_config.py to load.")
def serve(ip: str | None, port: int | None, data_dir: str | None, config_file: str) -> None:
    """Run the control plane and its REST API until interrupted."""
    from .platform.app import serve as run

    run(config_file=config_file, data_dir=data_dir, ip=ip, port=port)


@main.command()
@json_option
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Where the API is, who you are, which providers exist."""
    p = platform(ctx)
    data = p.info()
    if as_json:
        emit_json({**data, "url": p.url})
        return
    out.print(f"API           {p.url}")
    out.print(f"version       {data['version']}")
    out.print(f"user          {data['user']['name']} ({data['organization']['name']})")
    provs = ", ".join(pr["name"] for pr in data["providers"])
    out.print(f"providers     {provs} (default {data['default_provider']})")


@main.command("instance-types")
@click.option("--provider", default=None, help="Provider (default: the platform's default).")
@click.option("--efa", is_flag=True, help="Only EFA-capable types.")
@json_option
@click.pass_context
def instance_types(ctx: click.Context, provider: str | None, efa: bool, as_json: bool) -> None:
    """Instance types a cluster can be made of."""
    items = platform(ctx).instance_types(provider, efa or None)
    if as_json:
        emit_json(items)
        return
    if not items:
        out.print("No instance types" + (" with EFA" if efa else "") + ".")
        return
    t = Table("NAME", "CORES", "VCPUS", "MEMORY (GiB)", "EFA", "PROVIDER", box=None)
    for it in items:
        t.add_row(it["name"], str(it["cores"]), str(it["vcpus"]), f"{it['memory_gib']:g}",
                  "yes" if it["efa"] else "no", it["provider"])
    out.print(t)


# -- clusters -------------------------------------------------------------------------


@main.group()
def cluster() -> None:
    """Create, list, show and delete clusters."""


def cluster_table(clusters: list[Cluster]) -> Table:
    t = Table("NAME", "STATUS", "PROVIDER", "INSTANCES", "TYPE", "RANKS", "CREATED", box=None)
    for c in clusters:
        t.add_row(c.name, styled(c.status), c.provider, str(c.instances), c.instance_type,
                  str(c.core_count), short_time(c.data.get("created_at")))
    return t


@cluster.command("create")
@click.argument("name")
@click.option("--instance-type", "-t", required=True, help="Instance type (see instance-types).")
@click.option("--instances", "-n", type=int, default=1, show_default=True,
              help="Number of instances (nodes).")
@click.option("--efa", is_flag=True, help="Use EFA networking (EFA-capable types only).")
@click.option("--provider", default=None, help="Provider (default: the platform's default).")
@click.option("--wait", is_flag=True, help="Follow the create task until it ends.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@json_option
@click.pass_context
def cluster_create(ctx: click.Context, name: str, instance_type: str, instances: int, efa: bool,
                   provider: str | None, wait: bool, timeout: float | None,
                   as_json: bool) -> None:
    """Create a cluster NAME of INSTANCES x INSTANCE_TYPE."""
    import uuid

    p = platform(ctx)
    c = p.clusters.create(name, instance_type, instances, provider=provider, efa=efa,
                          client_token=uuid.uuid4().hex)
    assert c.task is not None
    if not as_json:
        out.print(f"Cluster {c.name} ({c.id}): {c.instances} x {c.instance_type}, "
                  f"{c.core_count} MPI ranks; task {c.task.id} {styled(c.task.status)}")
    if wait:
        if as_json:
            c.task.wait(timeout)
        else:
            follow(c.task, timeout)
        c.refresh()
        if not as_json:
            out.print(f"Cluster {c.name} is {styled(c.status)}. Attach from a notebook with "
                      f"`%load_ext bodo_jupyter` and `%bodo attach {c.name}`.")
    if as_json:
        emit_json({"cluster": c.data, "task": c.task.refresh().data})


@cluster.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include terminated clusters.")
@click.option("--status", default=None, help="Only these statuses (comma-separated).")
@json_option
@click.pass_context
def cluster_list(ctx: click.Context, show_all: bool, status: str | None, as_json: bool) -> None:
    """Clusters of your organisation."""
    clusters = platform(ctx).clusters.list(status=status, all=show_all)
    if as_json:
        emit_json([c.data for c in clusters])
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
    if as_json:
        emit_json(c.data)
        return
    d = c.data
    rows = [("name", c.name), ("id", c.id), ("status", styled(c.status)),
            ("message", d.get("status_message") or ""), ("provider", c.provider),
            ("instance type", c.instance_type), ("instances", str(c.instances)),
            ("cores per instance", str(d["cores_per_instance"])),
            ("MPI ranks (CORE_COUNT)", str(c.core_count)), ("EFA", "yes" if d["efa"] else "no"),
            ("created", d.get("created_at") or ""), ("ready", d.get("ready_at") or "")]
    if d.get("terminated_at"):
        rows.append(("terminated", d["terminated_at"]))
    lt = d.get("last_task")
    if lt:
        rows.append(("last task", f"{lt['id']} {lt['kind']} {styled(lt['status'])}"))
    for k, v in rows:
        if v:
            out.print(f"{k:24}{v}", highlight=False)


@cluster.command("delete")
@click.argument("name")
@click.option("--wait", is_flag=True, help="Follow the delete task until it ends.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after seconds.")
@click.pass_context
def cluster_delete(ctx: click.Context, name: str, wait: bool, timeout: float | None) -> None:
    """Delete a cluster and everything made for it."""
    p = platform(ctx)
    task = p.clusters.delete(name)
    out.print(f"Deleting cluster {name}: task {task.id} {styled(task.status)}")
    if wait:
        follow(task, timeout)
        out.print(f"Cluster {name} deleted.")


# -- tasks ----------------------------------------------------------------------------


@main.group()
def task() -> None:
    """List, show and cancel tasks."""


@task.command("list")
@click.option("--status", default=None, help="Only these statuses (comma-separated).")
@click.option("--cluster", "cluster_ref", default=None, help="Only tasks of this cluster.")
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@click.pass_context
def task_list(ctx: click.Context, status: str | None, cluster_ref: str | None, limit: int,
              as_json: bool) -> None:
    """Tasks of your organisation, newest first."""
    tasks = platform(ctx).tasks.list(status=status, cluster=cluster_ref, limit=limit)
    if as_json:
        emit_json([t.data for t in tasks])
        return
    if not tasks:
        out.print("No tasks.")
        return
    t = Table("ID", "KIND", "CLUSTER", "STATUS", "PROGRESS", "CREATED", "ERROR", box=None)
    for tk in tasks:
        t.add_row(tk.id, tk.kind, tk.data.get("cluster_name") or "", styled(tk.status),
                  f"{100 * tk.progress:.0f}%",
                  short_time(tk.data.get("created_at")),
                  (tk.error or "")[:60])
    out.print(t)


@task.command("show")
@click.argument("task_id")
@json_option
@click.pass_context
def task_show(ctx: click.Context, task_id: str, as_json: bool) -> None:
    """A task with its steps and every event."""
    tk = platform(ctx).tasks.get(task_id)
    if as_json:
        emit_json(tk.data)
        return
    d = tk.data
    out.print(f"task {tk.id}  {tk.kind}  {styled(tk.status)}  {100 * tk.progress:.0f}%",
              highlight=False)
    if d.get("cluster_name"):
        out.print(f"cluster {d['cluster_name']} ({d['cluster_id']})", highlight=False)
    if tk.error:
        out.print(f"[red]error:[/] {tk.error}", highlight=False)
    marks = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "started": "[cyan]…[/]",
             "pending": "[dim]·[/]"}
    out.print("steps:")
    for s in tk.steps:
        out.print(f"  {marks.get(s['state'], '?')} {s['title']}"
                  + (f" [dim]— {s['message']}[/]" if s["message"] and s["state"] != "pending"
                     else ""), highlight=False)
    out.print("events:")
    for ev in d.get("events", []):
        out.print(f"  {ev['time'][11:23]} {ev['step']:16} {ev['state']:9} {ev['message']}",
                  highlight=False)


@task.command("cancel")
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Wait until the task has rolled back.")
@click.pass_context
def task_cancel(ctx: click.Context, task_id: str, wait: bool) -> None:
    """Cancel a task; what it made is rolled back."""
    tk = platform(ctx).tasks.get(task_id).cancel()
    out.print(f"Cancelling task {tk.id}")
    if wait:
        tk.wait(raise_on_error=False)
        out.print(f"task {tk.id} {styled(tk.status)}")


# -- jobs ------------------------------------------------------------------------------


@main.group()
def job() -> None:
    """Run code from Git or S3 as `mpiexec -n <CORE_COUNT> python <command>`."""


def parse_env_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise PlatformError(f"--env takes NAME=value, got {p!r}")
        env[k] = v
    return env


def run_line(r: JobRun) -> str:
    bits = [r.id, styled(r.status)]
    if r.exit_code is not None:
        bits.append(f"exit {r.exit_code}")
    if r.reason:
        bits.append(r.reason)
    return "  ".join(bits)


@job.command("create")
@click.argument("name")
@click.option("--cluster", "cluster_ref", default=None,
              help="An existing RUNNING cluster, not used by a notebook or another job.")
@click.option("--instance-type", "-t", default=None,
              help="Instead of --cluster: a new cluster of this type for each run.")
@click.option("--instances", "-n", type=int, default=1, show_default=True,
              help="With --instance-type: number of instances.")
@click.option("--efa", is_flag=True, help="With --instance-type: EFA networking.")
@click.option("--provider", default=None, help="With --instance-type: the provider.")
@click.option("--command", "command", required=True,
              help="What follows `mpiexec -n <CORE_COUNT> python`, e.g. \"ex.py 1\".")
@click.option("--path", required=True,
              help="Git repository URL (https://host/owner/repo) or S3 URI (s3://bucket/prefix).")
@click.option("--ref", default=None, help="Git branch, tag or commit.")
@click.option("--username", default=None, help="Git username (private repositories).")
@click.option("--password-env", default=None, metavar="VAR",
              help="Name of an environment variable holding the Git password or token.")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE",
              help="Environment variable for the job (repeatable).")
@click.option("--at", "at", default=None, help="Run once at this ISO 8601 time.")
@click.option("--cron", default=None, help="Run on this cron schedule (5 fields, or 6 with "
              "seconds last).")
@click.option("--timezone", default=None, help="Time zone of --cron/--at (IANA, e.g. "
              "Europe/Paris) [UTC].")
@click.option("--max-concurrent", type=int, default=None,
              help="With --cron: runs of this job at once [1].")
@click.option("--timeout", type=int, default=None, help="Stop a run after so many seconds.")
@click.option("--retries", type=int, default=0, show_default=True,
              help="Run again after a failure, so many times.")
@click.option("--retry-delay", type=int, default=0, show_default=True,
              help="Seconds between a failure and the retry.")
@click.option("--wait", is_flag=True, help="With no schedule: follow the run until it ends.")
@json_option
@click.pass_context
def job_create(ctx: click.Context, name: str, cluster_ref: str | None,
               instance_type: str | None, instances: int, efa: bool, provider: str | None,
               command: str, path: str, ref: str | None, username: str | None,
               password_env: str | None, env_pairs: tuple[str, ...], at: str | None,
               cron: str | None, timezone: str | None, max_concurrent: int | None,
               timeout: int | None, retries: int, retry_delay: int, wait: bool,
               as_json: bool) -> None:
    """Create a job NAME; with no --at/--cron it runs now."""
    import os

    if bool(cluster_ref) == bool(instance_type):
        raise PlatformError("give --cluster NAME (an existing cluster) or --instance-type "
                            "TYPE (a new cluster for each run)")
    if at and cron:
        raise PlatformError("give --at or --cron, not both")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise PlatformError(f"--password-env {password_env}: that variable is not set")
    schedule: dict[str, object] | str = "now"
    if at:
        schedule = {"type": "at", "at": at}
    elif cron:
        schedule = {"type": "cron", "cron": cron}
        if max_concurrent is not None:
            schedule["max_concurrent_runs"] = max_concurrent
    if timezone and isinstance(schedule, dict):
        schedule["timezone"] = timezone
    j = platform(ctx).jobs.create(
        name, command=command, path=path, cluster=cluster_ref, instance_type=instance_type,
        instances=instances, efa=efa, provider=provider, schedule=schedule, ref=ref,
        git_username=username, git_password=password, env=parse_env_pairs(env_pairs) or None,
        timeout_s=timeout, retries=retries, retry_delay_s=retry_delay)
    run = j.last_run
    if not as_json:
        for n in j.notices:
            out.print(f"[yellow]note:[/] {n}", highlight=False)
        sched = j.data["schedule"]
        when = {"now": "now", "at": f"at {sched['at']}",
                "cron": f"on '{sched['cron']}' ({sched['timezone']}), next {sched['next_run_at']}"
                }[sched["type"]]
        out.print(f"Job {j.name} ({j.id}) runs {when}: {j.data['command_line']}",
                  highlight=False)
        if run:
            out.print(f"run {run.id} {styled(run.status)}")
    if wait and run is not None:
        if as_json:
            run.task().wait(raise_on_error=False)
        else:
            follow(run.task().refresh())
        run.refresh()
        if not as_json:
            out.print(f"run {run_line(run)}")
    if as_json:
        emit_json({**j.refresh().data, "notices": j.notices})
    if run is not None and run.done and run.status != "FINISHED":
        raise PlatformError(f"run {run.id} {run.status}: {run.reason}")


@job.command("list")
@json_option
@click.pass_context
def job_list(ctx: click.Context, as_json: bool) -> None:
    """Jobs of your organisation."""
    jobs = platform(ctx).jobs.list()
    if as_json:
        emit_json([j.data for j in jobs])
        return
    if not jobs:
        out.print("No jobs. Create one with `bodo-jupyter job create`.")
        return
    t = Table("NAME", "SCHEDULE", "NEXT RUN", "CLUSTER", "LAST RUN", "COMMAND", box=None)
    for j in jobs:
        d = j.data
        sched = d["schedule"]
        kind = sched["type"] if sched["type"] != "cron" else f"cron {sched['cron']}"
        if not sched["active"] and sched["type"] != "now":
            kind += " (inactive)"
        where = d["cluster"]["name"] if d["cluster"] else \
            f"new {d['new_cluster']['instances']} x {d['new_cluster']['instance_type']}"
        last = d.get("last_run")
        t.add_row(j.name, kind, short_time(sched["next_run_at"]), where,
                  styled(last["status"]) if last else "", d["command"])
    out.print(t)


@job.command("show")
@click.argument("name")
@json_option
@click.pass_context
def job_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A job in full (the Git password is never shown)."""
    j = platform(ctx).jobs.get(name)
    if as_json:
        emit_json(j.data)
        return
    d = j.data
    sched = d["schedule"]
    rows = [("name", j.name), ("id", j.id), ("command", d["command_line"]),
            ("path", d["path"] + (f" @ {d['ref']}" if d["ref"] else "")),
            ("cluster", d["cluster"]["name"] if d["cluster"] else
             f"new for each run: {d['new_cluster']['instances']} x "
             f"{d['new_cluster']['instance_type']}"),
            ("schedule", sched["type"] + (f" {sched['cron']} ({sched['timezone']})"
                                          if sched["cron"] else "")
             + (f" {sched['at']}" if sched["at"] else "")),
            ("active", "yes" if sched["active"] else "no"),
            ("next run", sched["next_run_at"] or ""),
            ("git user", d["git_username"] or ""),
            ("git password", "set (encrypted)" if d["git_password_set"] else ""),
            ("env", " ".join(f"{k}={v}" for k, v in d["env"].items())),
            ("timeout", f"{d['timeout_s']}s" if d["timeout_s"] else ""),
            ("retries", f"{d['retries']} (delay {d['retry_delay_s']}s)" if d["retries"] else "")]
    last = j.last_run
    if last:
        rows.append(("last run", run_line(last)))
    for k, v in rows:
        if v:
            out.print(f"{k:14}{v}", highlight=False)


@job.command("runs")
@click.argument("name")
@json_option
@click.pass_context
def job_runs(ctx: click.Context, name: str, as_json: bool) -> None:
    """History of a job's runs, newest first."""
    runs = platform(ctx).jobs.get(name).runs()
    if as_json:
        emit_json([r.data for r in runs])
        return
    if not runs:
        out.print("No runs yet.")
        return
    t = Table("RUN", "STATUS", "TRIGGER", "STARTED", "EXIT", "REASON", box=None)
    for r in runs:
        d = r.data
        t.add_row(r.id, styled(r.status), d["trigger"],
                  short_time(d["started_at"]),
                  "" if r.exit_code is None else str(r.exit_code), r.reason or "")
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
    out.print(f"Cancelling {len(res['cancelled_tasks'])} run(s) of job {name}")


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
    out.print(f"Job {name} is active; next run {j.data['schedule']['next_run_at']}.")


@job.command("delete")
@click.argument("name")
@click.pass_context
def job_delete(ctx: click.Context, name: str) -> None:
    """Delete a job: cancel its runs, remove its logs and stored secret."""
    res = platform(ctx).jobs.delete(name)
    out.print(f"Job {name} deleted" + (f"; cancelled {len(res['cancelled_tasks'])} run(s)"
                                       if res["cancelled_tasks"] else "") + ".")


# -- AWS ----------------------------------------------------------------------------------


@main.group()
def credentials() -> None:
    """Link your organisation's AWS account (for --provider aws)."""


def read_secret() -> str:
    """From $AWS_SECRET_ACCESS_KEY, else stdin when piped, else a hidden prompt -- never a
    flag, where `ps` and shell history would show it."""
    import os

    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if secret:
        return secret.strip()
    if not sys.stdin.isatty():
        secret = sys.stdin.readline().strip()
        if not secret:
            raise PlatformError("no secret access key on stdin")
        return secret
    return str(click.prompt("AWS secret access key", hide_input=True)).strip()


def show_account(a: dict[str, object]) -> None:
    status = str(a["status"])
    label = "ready" if a["ready"] else status.lower()
    out.print(f"account       {a['account_id']} ({a['region']})", highlight=False)
    out.print(f"access key    {a['access_key_id']}", highlight=False)
    if a.get("arn"):
        out.print(f"identity      {a['arn']}", highlight=False)
    out.print(f"status        {styled('RUNNING' if a['ready'] else status)} {label}"
              + (f" — {a['status_message']}" if a.get("status_message") else ""),
              highlight=False)


@credentials.command("set")
@click.option("--access-key-id", required=True, help="Access key id (AKIA...).")
@click.option("--account-id", required=True, help="The 12-digit AWS account id.")
@click.option("--region", required=True, help="Region for clusters, e.g. us-east-1.")
@click.option("--wait", is_flag=True, help="Follow the launch-permission task to the end.")
@json_option
@click.pass_context
def credentials_set(ctx: click.Context, access_key_id: str, account_id: str, region: str,
                    wait: bool, as_json: bool) -> None:
    """Check and store AWS credentials; the secret is read from $AWS_SECRET_ACCESS_KEY,
    stdin, or a hidden prompt."""
    p = platform(ctx)
    secret = read_secret()
    a = p.credentials.set(access_key_id, secret, account_id, region)
    del secret
    if wait and a.get("task_id"):
        task = p.tasks.get(str(a["task_id"]))
        if as_json:
            task.wait(raise_on_error=False)
        else:
            follow(task)
        a = p.credentials.show()
    if as_json:
        emit_json(a)
        return
    show_account(a)


@credentials.command("show")
@json_option
@click.pass_context
def credentials_show(ctx: click.Context, as_json: bool) -> None:
    """The linked AWS account (the secret is never shown)."""
    a = platform(ctx).credentials.show()
    if as_json:
        emit_json(a)
        return
    show_account(a)


@credentials.command("delete")
@click.pass_context
def credentials_delete(ctx: click.Context) -> None:
    """Forget the AWS credentials (refused while AWS clusters exist)."""
    platform(ctx).credentials.delete()
    out.print("AWS credentials deleted.")


@main.group()
def aws() -> None:
    """Set-up helpers for your AWS account."""


@aws.command("create-policy")
@click.option("--name", required=True, help="Name of the IAM policy to create.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the policy document instead of creating it.")
def aws_create_policy(name: str, print_only: bool) -> None:
    """Create the minimal IAM policy the platform needs, with YOUR AWS credentials
    (like `aws iam create-policy`); then attach it to the user whose keys you give us."""
    from .platform.providers.aws.policy import platform_policy

    doc = platform_policy()
    if print_only:
        emit_json(doc)
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        arn = boto3.client("iam").create_policy(
            PolicyName=name, PolicyDocument=json.dumps(doc),
            Description="bodo-jupyter: what the platform needs in this account",
        )["Policy"]["Arn"]
    except NoCredentialsError:
        raise PlatformError("no AWS credentials found for this command: configure the AWS "
                            "CLI (aws configure) or set AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY") from None
    except ClientError as e:
        err = e.response.get("Error", {})
        raise PlatformError(f"IAM refused: {err.get('Code')}: {err.get('Message')}") from None
    except BotoCoreError as e:
        raise PlatformError(f"cannot reach AWS: {e}") from None
    out.print(f"Created policy {arn}", highlight=False)
    out.print(f"Attach it: aws iam attach-user-policy --user-name USER --policy-arn {arn}",
              highlight=False)


if __name__ == "__main__":  # pragma: no cover
    main()
