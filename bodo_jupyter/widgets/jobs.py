"""JobPanel: the organisation's jobs, the create form, runs with progress and live logs."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import JOB_CREATE
from bodo_jupyter.sdk import Job, JobRun

from .base import Confirm, Panel, Table, badge, when
from .fields import HELP_STYLE, FormView, text

COLUMNS = ("Name", "Cluster", "Schedule", "Status", "Last run", "Next run")
PREFIX = "mpiexec -n <CORE_COUNT> python"
LOG_CHARS = 200_000  # the most of a log the log view keeps (its end)


def cluster_text(job: Job) -> str:
    d = job.data
    if d.cluster is not None:
        return d.cluster.name
    n = d.new_cluster
    return f"NEW {n.instances} × {n.instance_type}" if n is not None else ""  # noqa: RUF001


def schedule_text(job: Job) -> str:
    s = job.data.schedule
    kind = str(s.type)
    if kind == "cron":
        out = f"cron {s.cron} ({s.timezone})"
    elif kind == "at":
        out = f"at {when(s.at)}"
    else:
        out = "now"
    return out if s.active or kind == "now" else out + " (inactive)"


class JobRow:
    """A job's buttons: Details (runs and log), Run now, Cancel, Deactivate/Activate,
    Delete."""

    def __init__(self, name: str):
        def button(label: str, **kw: Any) -> w.Button:
            return w.Button(description=label, layout=w.Layout(width="auto"), **kw)

        self.details = button("Details")
        self.run_now = button("Run now")
        self.cancel = button("Cancel")
        self.active = button("Deactivate")
        self.delete = Confirm(name)
        self.box = [self.details, self.run_now, self.cancel, self.active, self.delete.box]


class JobPanel(Panel):
    """The organisation's jobs as a table (name, cluster, schedule, last run's status,
    last run, next run); *Create job* opens the declared job form (a free RUNNING
    cluster or NEW with its type and count; now, at or cron with a time zone; the
    command after ``mpiexec -n <CORE_COUNT> python``; Git or S3 path; *Show advanced*:
    Git username, password or token, reference, environment, timeout, retries).
    *Details* shows the command line and the run history and follows the latest run's
    log live; a running run has a progress bar from its task's events.

    In a notebook::

        from bodo_jupyter.widgets import JobPanel
        JobPanel()
    """

    title = "Bodo jobs"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.jobs: dict[str, Job] = {}
        self.table = Table(COLUMNS)
        self.buttons: dict[str, JobRow] = {}
        self.create_button = w.Button(description="Create job", icon="plus",
                                      button_style="primary")
        self.create_button.on_click(lambda _: self.open_create())
        self.form: FormView | None = None
        self.form_slot = w.VBox([])
        self.detail_job: str | None = None  # the job whose details are shown
        self.detail = w.HTML("")
        self.runs = Table(("Run", "Status", "Trigger", "Started", "Finished", "Exit code"))
        self.log_title = w.HTML("")
        self.log_view = w.Textarea(value="", rows=12, disabled=True,
                              layout=w.Layout(width="100%", display="none"))
        self.log_run: str | None = None  # the run whose log the log view follows
        self.log_done = False
        self.details_box = w.VBox([])
        self.header.children = [*self.header.children, self.create_button]
        self.children = [self.header, self.message, self.form_slot, self.tasks_box,
                         self.table.box, self.details_box]
        self.start()

    # -- the table ------------------------------------------------------------------------

    async def refresh(self) -> object:
        jobs = await self.platform.jobs.list()
        self.jobs = {j.id: j for j in jobs}
        rows = {j.id: self.row(j) for j in jobs}
        self.table.set(rows, self.actions, "No jobs yet. Create one to run a script "
                                           "from Git or S3 on a cluster.")
        for j in jobs:
            b = self.buttons.get(j.id)
            if b is not None:
                b.active.description = "Deactivate" if j.data.schedule.active else "Activate"
                b.active.disabled = str(j.data.schedule.type) == "now"
            last = j.last_run
            if last is not None and not last.done and last.data.task_id not in self.task_views:
                self.follow_run(last)
        if self.detail_job is not None:
            if self.detail_job in self.jobs:
                await self.show_details(self.detail_job, follow_log=False)
            else:
                self.hide_details()
        return rows

    def row(self, j: Job) -> list[str]:
        last = j.data.last_run
        return [f"<b>{html.escape(j.name)}</b>", html.escape(cluster_text(j)),
                html.escape(schedule_text(j)), badge(str(last.status)) if last else "",
                when(last.created_at) if last else "", when(j.data.schedule.next_run_at)]

    def actions(self, job_id: str) -> list[w.Widget]:
        j = self.jobs[job_id]
        b = JobRow(j.name)
        self.on(b.details, lambda: self.show_details(job_id), f"details of {j.name}")
        self.on(b.run_now, lambda: self.run_now(job_id), f"run {j.name}")
        self.on(b.cancel, lambda: self.cancel(job_id), f"cancel {j.name}")
        self.on(b.active, lambda: self.toggle_active(job_id), f"update {j.name}")
        b.delete.yes.on_click(lambda _: self.spawn(self.delete(job_id), f"delete {j.name}"))
        self.buttons[job_id] = b
        return b.box

    # -- create ---------------------------------------------------------------------------

    def open_create(self) -> FormView:
        if self.form is not None:
            return self.form
        view = FormView(JOB_CREATE, "Create")
        command = view["command"]
        command.note.value = text(f"runs as: {PREFIX} <command>", HELP_STYLE)
        self.form = view
        self.on(view.submit, lambda: self.create(view), "create")
        view.cancel.on_click(lambda _: self.close_create())
        self.form_slot.children = [view.box]
        self.open_form(view)
        return view

    def close_create(self) -> None:
        self.form = None
        self.form_slot.children = []

    async def create(self, view: FormView) -> Job | None:
        job = await self.submit(view, lambda req: self.platform.jobs.create_from(req))
        if job is None:
            return None
        self.close_create()
        notices = " ".join(job.notices)
        self.say(f"Created job {job.name}." + (f" {notices}" if notices else ""))
        run = job.last_run
        if run is not None:
            self.follow_run(run)
        self.wake()
        await self.show_details(job.id, job)
        return job

    # -- runs -----------------------------------------------------------------------------

    def follow_run(self, run: JobRun) -> None:
        async def go() -> None:
            self.follow_task(await run.task(), run.job.name)

        self.spawn(go(), f"run of {run.job.name}")

    async def run_now(self, job_id: str) -> JobRun:
        run = await self.jobs[job_id].run_now()
        self.follow_run(run)
        self.wake()
        if self.detail_job == job_id:
            await self.show_details(job_id)
        return run

    async def cancel(self, job_id: str) -> None:
        out = await self.jobs[job_id].cancel()
        n = len(out.cancelled_tasks)
        self.say(f"Cancelled {n} run{'s' if n != 1 else ''} of {out.job}." if n
                 else f"{out.job} has no run to cancel.")
        self.wake()

    async def toggle_active(self, job_id: str) -> None:
        j = self.jobs[job_id]
        await j.set_active(not j.data.schedule.active)
        self.wake()

    async def delete(self, job_id: str) -> None:
        out = await self.jobs[job_id].delete()
        self.say(f"Deleted job {out.job}.")
        if self.detail_job == job_id:
            self.hide_details()
        self.wake()

    # -- details and the live log ---------------------------------------------------------

    async def show_details(self, job_id: str, job: Job | None = None,
                           follow_log: bool = True) -> None:
        job = job or await self.jobs[job_id].refresh()
        d = job.data
        self.detail_job = job_id
        env = ", ".join(f"{k}={v}" for k, v in (d.env or {}).items())
        facts = [("Command line", d.command_line), ("Source", f"{d.source_type} {d.path}"
                                                    + (f" @ {d.ref}" if d.ref else "")),
                 ("Git username", d.git_username or ""),
                 ("Git password", "set" if d.git_password_set else ""),
                 ("Environment", env), ("Timeout (s)", d.timeout_s or ""),
                 ("Retries", d.retries)]
        self.detail.value = (f"<b>{html.escape(job.name)}</b><table>" + "".join(
            f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in facts if v not in ("", None)) + "</table>")
        runs = await job.runs(limit=20)
        self.runs.set({r.id: [html.escape(r.id[:8]), badge(r.status), str(r.data.trigger),
                              when(r.data.started_at), when(r.data.finished_at),
                              "" if r.data.exit_code is None else str(r.data.exit_code)]
                       for r in runs}, lambda _: [], "No runs yet.")
        self.details_box.children = [self.detail, self.runs.box, self.log_title, self.log_view]
        if runs and (follow_log or self.log_run is None):
            latest = runs[0]
            if latest.id != self.log_run:
                self.log_run = latest.id
                self.spawn(self.follow_log(latest), f"log of {job.name}")
        await self.notify()

    def hide_details(self) -> None:
        self.detail_job = None
        self.log_run = None
        self.details_box.children = []

    async def follow_log(self, run: JobRun) -> None:
        """The run's log into the log view as it is written (the API's long poll)."""
        self.log_done = False
        self.log_view.value = ""
        self.log_view.layout.display = None
        self.log_title.value = text(f"Log of run {run.id[:8]} (live)", HELP_STYLE)
        async for chunk in run.logs(follow=True):
            if self.log_run != run.id:
                return
            self.log_view.value = (self.log_view.value + chunk)[-LOG_CHARS:]
            await self.notify()
        if self.log_run == run.id:
            self.log_done = True
            self.log_title.value = text(f"Log of run {run.id[:8]}", HELP_STYLE)
            await self.notify()
