"""The job scheduler: starts runs of ``at`` and ``cron`` jobs when they are due.

It lives in the control plane, so jobs run with no notebook open. A due time
becomes a JobRun in the same transaction that advances the job's
``next_run_at``, and ``(job_id, due_at)`` is unique: a due time can never
start twice, even if two loops raced.

Missed times (the control plane was down): a job never runs once per missed
time. With ``misfire_policy = "run_once"`` (default) it runs once, for the
latest time that passed -- like anacron or systemd's ``Persistent=true`` --
and the run's log says how many earlier times were skipped; with ``"skip"``
a run more than ``misfire_grace_s`` late is not started and the job waits
for its next time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from traitlets import Enum, Float
from traitlets.config import LoggingConfigurable

from ..clock import Clock, SystemClock
from ..models import Job
from ..store import Store
from ..tasks import TaskEngine
from .logs import JobLogs
from .service import JobService
from .spec import next_cron_time


def latest_due(cron: str, zone: str, due: datetime, now: datetime) -> datetime:
    """The last time at or before ``now`` that a cron job was due (>= ``due``)."""
    last = due
    nxt = next_cron_time(cron, zone, due)
    while nxt <= now:
        last = nxt
        nxt = next_cron_time(cron, zone, nxt)
    return last


def count_between(cron: str, zone: str, first: datetime, last: datetime) -> int:
    """How many due times lie in [first, last) -- the ones a catch-up skips."""
    n, t = 0, first
    while t < last:
        n += 1
        t = next_cron_time(cron, zone, t)
    return n


class JobScheduler(LoggingConfigurable):
    misfire_policy = Enum(
        ["run_once", "skip"], "run_once", config=True,
        help="What to do with due times missed while the control plane was down: run "
        "once for the latest (run_once) or skip them (skip).",
    )
    misfire_grace_s = Float(
        60.0, config=True,
        help="A run that starts at most this late counts as on time, not missed.",
    )
    max_sleep = Float(1.0, config=True, help="Longest pause between checks (seconds).")

    def __init__(self, *, store: Store, engine: TaskEngine, jobs: JobService,
                 log_files: JobLogs, clock: Clock | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.store = store
        self.engine = engine
        self.jobs = jobs
        self.log_files = log_files
        self.clock = clock or SystemClock()
        #: Due runs not started because their job was at ``Limits.max_runs_per_job_per_day``.
        self.skipped_for_limit = 0

    async def run_forever(self) -> None:
        while True:
            try:
                wait = self.fire_due()
            except Exception:
                self.log.exception("job scheduler pass failed")
                wait = self.max_sleep
            jobs = self.jobs
            jobs.changed.clear()
            await self.clock.wait(max(0.01, wait), jobs.changed)

    def fire_due(self, now: datetime | None = None) -> float:
        """Start every due run; returns seconds until the next due time (capped)."""
        now = now or self.clock.now()
        store = self.store
        with store.session() as s:
            due_ids = s.scalars(select(Job.id).where(
                Job.active.is_(True), Job.deleted_at.is_(None), Job.next_run_at.is_not(None),
                Job.next_run_at <= now)).all()
        started: list[str] = []
        for job_id in due_ids:
            task_id = self._fire(job_id, now)
            if task_id:
                started.append(task_id)
        for task_id in started:
            self.engine.start(task_id)
        with store.session() as s:
            nxt = s.scalar(select(func.min(Job.next_run_at)).where(
                Job.active.is_(True), Job.deleted_at.is_(None)))
        if nxt is None:
            return self.max_sleep
        return min(self.max_sleep, max(0.0, (nxt - self.clock.now()).total_seconds()))

    def _fire(self, job_id: str, now: datetime) -> str | None:
        store = self.store
        try:
            with store.session() as s:
                job = s.get(Job, job_id)
                due = job.next_run_at
                if due is None or due > now or not job.active:
                    return None
                missed = 0
                if job.schedule_type == "cron":
                    # Several due times passed (a restart, a long pause): run once, for
                    # the latest, and go on from there.
                    latest = latest_due(job.cron or "", job.timezone, due, now)
                    missed = count_between(job.cron or "", job.timezone, due, latest)
                    due = latest
                    job.next_run_at = next_cron_time(job.cron or "", job.timezone, due)
                else:
                    job.next_run_at = None
                late = now - due > timedelta(seconds=self.misfire_grace_s)
                if late and self.misfire_policy == "skip":
                    self.log.warning("job %s: skipped the run due at %s (missed)", job.name, due)
                    return None
                if self.jobs.over_daily_limit(s, job) is not None:
                    self.skipped_for_limit += 1
                    self.log.warning(
                        "job %s: skipped the run due at %s: it started %d runs in the last "
                        "24 hours (Limits.max_runs_per_job_per_day)", job.name, due,
                        self.jobs.limits.max_runs_per_job_per_day)
                    return None
                run = self.jobs.new_run(s, job, job.schedule_type, due)
                if late or missed:
                    logs = self.log_files
                    note = f"due at {due.isoformat()}; started {now.isoformat(timespec='seconds')}"
                    if missed:
                        note += f"; {missed} earlier due time(s) were missed and skipped"
                    logs.append(logs.path(job.org_id, job.id, run.id),
                                f"{note} (the control plane was down or busy)")
                    self.log.warning("job %s: %s", job.name, note)
                return run.task_id
        except IntegrityError:
            # This due time already has its run (another pass made it): never twice.
            with store.session() as s:
                job = s.get(Job, job_id)
                if job.schedule_type == "cron" and job.next_run_at is not None:
                    job.next_run_at = next_cron_time(job.cron or "", job.timezone,
                                                     job.next_run_at)
                else:
                    job.next_run_at = None
            return None
