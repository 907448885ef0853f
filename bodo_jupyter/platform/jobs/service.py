"""Job operations as the API offers them: create, list, show, run now, cancel,
delete, and read logs. Runs themselves are tasks (see :mod:`run_task`)."""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from bodo_jupyter.contract.models import CreateJobRequest, JobRunPhase, TaskKind, UpdateJobRequest

from ..clock import Clock, SystemClock
from ..clusters.leases import Holder, HolderRules
from ..errors import BadRequest, Conflict, NotFound
from ..identity import Identity
from ..limits import Limits, TooManyRequests
from ..models import Cluster, ClusterStatus, Job, JobRun, JobRunStatus, Task, TaskStatus, utcnow
from ..paging import DEFAULT_LIMIT, Page, after, keyset
from ..providers.base import ClusterSpec
from ..views import job_item, job_view, run_view
from .backend import JobBackend
from .deps import JobDeps, UsesJobDeps
from .sources import SourceFetchFailed
from .spec import JobSpec, next_cron_time, parse_job

ACTIVE_RUN = (JobRunStatus.NEW, JobRunStatus.INPROGRESS)
HOLDER_KIND = "job_run"


# What lists read: of a job never env, argv or the password (they may be large), of a run
# never its details.
JOB_LISTED = (Job.id, Job.name, Job.cluster_id, Job.cluster_spec, Job.schedule_type, Job.run_at,
              Job.cron, Job.timezone, Job.max_concurrent_runs, Job.active, Job.next_run_at,
              Job.command, Job.source_type, Job.path, Job.ref, Job.git_username, Job.timeout_s,
              Job.retries, Job.retry_delay_s, Job.created_by, Job.created_at, Job.updated_at)
RUN_LISTED = (JobRun.id, JobRun.job_id, JobRun.org_id, JobRun.task_id, JobRun.trigger,
              JobRun.due_at, JobRun.status, JobRun.phase, JobRun.reason, JobRun.exit_code,
              JobRun.command_line, JobRun.source_revision, JobRun.cluster_id, JobRun.attempts,
              JobRun.created_at, JobRun.started_at, JobRun.finished_at)
RUN_PREFIX = "run_"


def run_holder(run_id: str, job_name: str) -> Holder:
    """How a run appears as the holder of a cluster."""
    return Holder(HOLDER_KIND, run_id, f"job {job_name!r} (run {run_id})")


class JobService(UsesJobDeps):
    def __init__(self, deps: JobDeps, clock: Clock | None = None,
                 limits: Limits | None = None):
        super().__init__(deps)
        self.clock = clock or SystemClock()  # 'now' for schedules
        self.limits = limits or Limits()
        self.changed = asyncio.Event()  # wakes the scheduler
        self.leases.register(HolderRules(HOLDER_KIND, "cancel the run", self._active_runs))

    def _wake(self) -> None:
        self.changed.set()

    def _active_runs(self, run_ids: list[str]) -> set[str]:
        with self.store.session() as s:
            return set(s.scalars(select(JobRun.id).where(
                JobRun.id.in_(run_ids), JobRun.status.in_(ACTIVE_RUN))).all())

    def backend(self, provider: str, field: str) -> JobBackend:
        b = self.backends.get(provider)
        if b is None:
            raise BadRequest(f"jobs cannot run on {provider} clusters yet", field=field)
        return b

    # -- lookups ---------------------------------------------------------------------

    def find(self, s: Any, identity: Identity, ref: str) -> Job:
        job = s.get(Job, ref)
        if job is not None and job.org_id == identity.org_id and job.deleted_at is None:
            return job
        job = s.scalars(select(Job).where(Job.org_id == identity.org_id, Job.name == ref,
                                          Job.deleted_at.is_(None))).first()
        if job is None:
            raise NotFound(f"job {ref!r} not found")
        return job

    def find_run(self, s: Any, job: Job, run_id: str | None) -> JobRun:
        if run_id in (None, "", "latest"):
            run = s.scalars(select(JobRun).where(JobRun.job_id == job.id)
                            .order_by(JobRun.created_at.desc(), JobRun.id.desc())).first()
            if run is None:
                raise NotFound(f"job {job.name!r} has no runs yet")
            return run
        run = s.get(JobRun, run_id)
        if run is None or run.job_id != job.id:
            raise NotFound(f"run {run_id!r} of job {job.name!r} not found")
        return run

    def _names(self, s: Any, ids: set[str | None]) -> dict[str, str]:
        ids = {i for i in ids if i}
        if not ids:
            return {}
        return dict(s.execute(select(Cluster.id, Cluster.name).where(Cluster.id.in_(ids))).all())

    def view(self, s: Any, job: Job) -> dict[str, Any]:
        last = s.scalars(select(JobRun).where(JobRun.job_id == job.id)
                         .order_by(JobRun.created_at.desc(), JobRun.id.desc())).first()
        names = self._names(s, {job.cluster_id, last.cluster_id if last else None})
        return job_view(job, cluster_name=names.get(job.cluster_id or ""),
                        last_run=run_view(last, job_name=job.name,
                                          cluster_name=names.get(last.cluster_id or ""))
                        if last else None)

    def run_detail(self, s: Any, job: Job, run: JobRun) -> dict[str, Any]:
        names = self._names(s, {run.cluster_id})
        path = self.log_files.path(run.org_id, run.job_id, run.id)
        return run_view(run, job_name=job.name, cluster_name=names.get(run.cluster_id or ""),
                        log_size=self.log_files.size(path))

    # -- create ---------------------------------------------------------------------------

    async def _check_cluster(self, identity: Identity, spec: JobSpec
                             ) -> tuple[str | None, dict[str, Any] | None, str | None]:
        """Existing cluster id (RUNNING, free) or a validated dedicated spec; its region."""
        if spec.cluster_ref:
            with self.store.session() as s:
                try:
                    c = self.clusters.find(s, identity, spec.cluster_ref)
                except NotFound as e:
                    raise BadRequest(e.message, field="cluster") from None
                if c.status != ClusterStatus.RUNNING:
                    raise Conflict(f"cluster {c.name!r} is {c.status}; a job needs a RUNNING "
                                   "cluster, or a new one made for it", field="cluster")
                if c.made_for:
                    raise Conflict(f"cluster {c.name!r} was made for "
                                   f"{c.made_for.get('label', 'something else')} and goes "
                                   "away with it", field="cluster")
                lease = self.leases.held(s, c.id)
                if lease is not None:
                    raise Conflict(self.leases.in_use(
                        c.name, lease, "choose another cluster or create a new one for "
                        "this job"), field="cluster")
                cluster_spec = self.clusters.spec(c)
                provider = self.clusters.provider(c.provider)
                self.backend(provider.name, "cluster")
                return c.id, None, provider.region(cluster_spec)
        new = spec.cluster_spec
        assert new is not None
        p = self.clusters.provider(new.provider, field="cluster.provider")
        self.backend(p.name, "cluster.provider")
        await p.check_ready(identity)
        itype = await self.clusters.instance_type(identity, p, new.instance_type,
                                                  field="cluster.instance_type")
        self.clusters.check_instances(p, new.instances, field="cluster.instances")
        await self.clusters.check_efa(identity, p, itype, new.efa, field="cluster.efa")
        # Checked now; kept as asked (None: the provider's newest when a run starts).
        bodo = None
        if new.bodo_version:
            bodo = await asyncio.to_thread(p.choose_bodo_version, new.bodo_version,
                                           "cluster.bodo_version")
        region = p.region(ClusterSpec("", identity.org_id, "", itype, new.instances, new.efa))
        return None, {"provider": p.name, "instance_type": itype.name,
                      "instances": new.instances, "efa": new.efa, "bodo_version": bodo,
                      "cores_per_instance": itype.cores}, region

    async def _check_source(self, identity: Identity, spec: JobSpec, region: str | None, *,
                            new_cluster: bool) -> None:
        """The source's host is one the admin allows; an S3 bucket is readable with the
        organisation's own credentials and in the cluster's region. Refused here, at
        creation, with the field named -- not at the first run."""
        try:
            if spec.source.type == "git":
                self.fetcher.check_url(spec.source.path)
                return
            creds = self.aws_accounts.source_credentials(identity.org_id)
            bucket_region = await self.fetcher.bucket_region(spec.source.bucket or "", creds)
        except SourceFetchFailed as e:
            raise BadRequest(e.message, field="path", code=e.code) from None
        if region and bucket_region != region:
            where = "the new cluster" if new_cluster else "the cluster"
            raise BadRequest(f"S3 bucket {spec.source.bucket!r} is in {bucket_region} but "
                             f"{where} is in {region}: the bucket must be in the cluster's "
                             "region", field="path")

    async def create(self, identity: Identity, req: CreateJobRequest) -> dict[str, Any]:
        now = self.clock.now()
        spec = parse_job(req, now, min_cron_interval_s=self.limits.min_cron_interval_s)
        self.limits.check_env(spec.env)
        with self.store.session() as s:
            if s.scalars(select(Job.id).where(Job.org_id == identity.org_id,
                                              Job.name == spec.name,
                                              Job.deleted_at.is_(None))).first():
                raise Conflict(f"a job named {spec.name!r} already exists; choose another name "
                               "or delete it", field="name")
        cluster_id, cluster_spec, region = await self._check_cluster(identity, spec)
        await self._check_source(identity, spec, region, new_cluster=cluster_spec is not None)
        job = Job(
            org_id=identity.org_id, name=spec.name, created_by=identity.user_id,
            cluster_id=cluster_id, cluster_spec=cluster_spec,
            schedule_type=spec.schedule.type, run_at=spec.schedule.run_at,
            cron=spec.schedule.cron, timezone=spec.schedule.timezone,
            max_concurrent_runs=spec.schedule.max_concurrent_runs,
            command=spec.command, argv=spec.argv, source_type=spec.source.type,
            path=spec.source.path, ref=spec.ref, git_username=spec.git_username,
            git_password_enc=self.secrets.encrypt(spec.git_password)
            if spec.git_password else None,
            env=spec.env, timeout_s=spec.timeout_s, retries=spec.retries,
            retry_delay_s=spec.retry_delay_s,
        )
        if job.schedule_type == "at":
            job.next_run_at = spec.schedule.run_at
        elif job.schedule_type == "cron":
            job.next_run_at = next_cron_time(job.cron or "", job.timezone, now)
        run_task: str | None = None
        try:
            with self.store.session() as s:
                s.add(job)
                s.flush()
                if job.schedule_type == "now":
                    run_task = self.new_run(s, job, "now", None).task_id
                out = self.view(s, job)
        except IntegrityError:
            raise Conflict(f"a job named {spec.name!r} already exists", field="name") from None
        if run_task:
            self.engine.start(run_task)
        self._wake()
        out["notices"] = spec.notices
        return out

    def new_run(self, s: Any, job: Job, trigger: str, due_at: datetime | None) -> JobRun:
        """A run and its task, in the caller's transaction."""
        run = JobRun(job_id=job.id, org_id=job.org_id, trigger=trigger, due_at=due_at,
                     cluster_id=job.cluster_id, status=JobRunStatus.NEW)
        s.add(run)
        s.flush()
        task = self.engine.new_task(kind=TaskKind.JOB_RUN, org_id=job.org_id,
                                    user_id=job.created_by, cluster_id=job.cluster_id,
                                    params={"run_id": run.id, "job_id": job.id})
        s.add(task)
        s.flush()
        run.task_id = task.id
        self.log_files.create(self.log_files.path(job.org_id, job.id, run.id))
        return run

    def runs_in_last_day(self, s: Any, job_id: str) -> tuple[int, datetime | None]:
        """How many runs the job started in the last 24 hours, and when the oldest did."""
        since = utcnow() - timedelta(days=1)
        count, oldest = s.execute(select(func.count(JobRun.id), func.min(JobRun.created_at))
                                  .where(JobRun.job_id == job_id,
                                         JobRun.created_at >= since)).one()
        return int(count), oldest

    def over_daily_limit(self, s: Any, job: Job) -> int | None:
        """Seconds until the job may start another run, if it is at its daily limit."""
        count, oldest = self.runs_in_last_day(s, job.id)
        if count < self.limits.max_runs_per_job_per_day:
            return None
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        left = ((oldest + timedelta(days=1)) - utcnow()).total_seconds() if oldest else 60
        return max(1, int(left) + 1)

    # -- reads ------------------------------------------------------------------------------

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            return self.view(s, self.find(s, identity, ref))

    def list(self, identity: Identity, *, limit: int = DEFAULT_LIMIT,
             cursor: str | None = None) -> dict[str, Any]:
        """One page in one statement: each job with its cluster's name and its newest
        run (outer joins on a correlated subquery), without env, argv or secrets."""
        page = Page.of("jobs", limit, cursor)
        rows = self.store.rows(jobs_page(*page.key), org_id=identity.org_id, **page.params())

        def view(r: Any) -> dict[str, Any]:
            run = listed_run(r)
            return job_item(r, cluster_name=r.cluster_name,
                            git_password_set=bool(r.git_password_set),
                            last_run=run_view(run, job_name=r.name,
                                              cluster_name=run.cluster_name) if run else None)

        return page.answer("jobs", rows, view)

    def runs(self, identity: Identity, ref: str, *, limit: int = DEFAULT_LIMIT,
             cursor: str | None = None) -> dict[str, Any]:
        """One page of a job's runs in one statement: the job (by id, else name) outer
        joined with its runs after the cursor, so an unknown job is told from a job
        without runs."""
        page = Page.of(None, limit, cursor)
        rows = self.store.rows(runs_page(*page.key), org_id=identity.org_id, ref=ref,
                               **page.params())
        if not rows:
            raise NotFound(f"job {ref!r} not found")
        scope = f"runs:{rows[0].found_job_id}"
        page.check(scope)
        rows = [r for r in rows if r.id is not None]

        def view(r: Any) -> dict[str, Any]:
            path = self.log_files.path(r.org_id, r.job_id, r.id)
            return run_view(r, job_name=r.job_name, cluster_name=r.cluster_name,
                            log_size=self.log_files.size(path))

        return page.answer(scope, rows, view)

    def run(self, identity: Identity, ref: str, run_id: str) -> dict[str, Any]:
        with self.store.session() as s:
            job = self.find(s, identity, ref)
            return self.run_detail(s, job, self.find_run(s, job, run_id))

    async def logs(self, identity: Identity, ref: str, run_id: str | None, offset: int,
                   wait: float, limit: int | None = None) -> dict[str, Any]:
        """Log text from ``offset``; with ``wait``, hold until there is more or the run ended."""
        if offset < 0:
            raise BadRequest("offset must be >= 0", field="offset")
        if limit is not None and limit < 1:
            raise BadRequest("limit must be >= 1", field="limit")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            with self.store.session() as s:
                job = self.find(s, identity, ref)
                run = self.find_run(s, job, run_id)
                done = run.status not in ACTIVE_RUN
                path = self.log_files.path(run.org_id, run.job_id, run.id)
                rid, status, task_id = run.id, run.status, run.task_id
            text, nxt = await asyncio.to_thread(self.log_files.read, path, offset, limit)
            left = deadline - loop.time()
            if text or done or left <= 0:
                return {"run_id": rid, "status": status, "text": text, "offset": offset,
                        "next_offset": nxt, "complete": done and nxt >= self.log_files.size(path)}
            # Until the log grows or the run ends: one look at the file per log, however
            # many follow it, and the run's end wakes its followers at once.
            await first_of(self.log_files.grown(path, nxt, left),
                           self.engine.wait_for_task(task_id or "", left))

    # -- changes ------------------------------------------------------------------------------

    async def run_now(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            job = self.find(s, identity, ref)
            wait = self.over_daily_limit(s, job)
            if wait is not None:
                raise TooManyRequests(
                    f"job {job.name!r} started {self.limits.max_runs_per_job_per_day} runs in "
                    f"the last 24 hours, its limit; try again in {wait} s", retry_after=wait)
            run = self.new_run(s, job, "manual", None)
            out = self.run_detail(s, job, run)
        self.engine.start(out["task_id"])
        return out

    def update(self, identity: Identity, ref: str, req: UpdateJobRequest) -> dict[str, Any]:
        active = req.active
        with self.store.session() as s:
            job = self.find(s, identity, ref)
            if job.schedule_type == "now" and active:
                raise BadRequest("a job scheduled 'now' has nothing to reactivate; "
                                 "use run-now", field="active")
            if active and not job.active:
                now = self.clock.now()
                if job.schedule_type == "cron":
                    # No catch-up for the time it was off: the next time from now on.
                    job.next_run_at = next_cron_time(job.cron or "", job.timezone, now)
                elif job.schedule_type == "at" and job.run_at and job.run_at > now \
                        and not s.scalars(select(JobRun.id).where(
                            JobRun.job_id == job.id, JobRun.trigger == "at")).first():
                    job.next_run_at = job.run_at
            job.active = active
            if not active:
                job.next_run_at = None
            s.flush()
            out = self.view(s, job)
        self._wake()
        return out

    async def cancel(self, identity: Identity, ref: str) -> dict[str, Any]:
        """Cancel every active run of the job."""
        with self.store.session() as s:
            job = self.find(s, identity, ref)
            tasks = [r.task_id for r in s.scalars(select(JobRun).where(
                JobRun.job_id == job.id, JobRun.status.in_(ACTIVE_RUN))).all() if r.task_id]
            name = job.name
        if not tasks:
            raise Conflict(f"job {name!r} has no active run to cancel")
        for tid in tasks:
            try:
                await self.engine.cancel(tid, identity.org_id)
            except Conflict:
                pass
        return {"job": name, "cancelled_tasks": tasks}

    async def delete(self, identity: Identity, ref: str) -> dict[str, Any]:
        """Deactivate, cancel active runs, wait for their clean-up, then remove."""
        with self.store.session() as s:
            job = self.find(s, identity, ref)
            job.active = False
            job.next_run_at = None
            job_id, org_id, name = job.id, job.org_id, job.name
            tasks = [r.task_id for r in s.scalars(select(JobRun).where(
                JobRun.job_id == job.id, JobRun.status.in_(ACTIVE_RUN))).all() if r.task_id]
        for tid in tasks:
            try:
                await self.engine.cancel(tid, identity.org_id)
            except Conflict:
                pass
        with self.store.session() as s:
            job = s.get(Job, job_id)
            job.deleted_at = utcnow()
            job.git_password_enc = None  # the secret goes with the job
        for tid in tasks:
            await self.engine.wait_done(tid, timeout=30)
        self._remove_logs_if_idle(job_id, org_id)
        self._wake()
        return {"job": name, "deleted": True, "cancelled_tasks": tasks}

    def _remove_logs_if_idle(self, job_id: str, org_id: str) -> None:
        """A deleted job's logs go once no run of it can write any more."""
        with self.store.session() as s:
            active = s.scalars(select(JobRun.id).where(
                JobRun.job_id == job_id, JobRun.status.in_(ACTIVE_RUN))).first()
        if active is None:
            self.log_files.remove_job(org_id, job_id)

    # -- task end ------------------------------------------------------------------------------

    def on_task_finished(self, task_id: str, status: TaskStatus) -> None:
        with self.store.session() as s:
            task = s.get(Task, task_id)
            if task is None or task.kind != "job.run":
                return
            run = s.get(JobRun, task.params.get("run_id"))
            if run is None:
                return
            run.status = JobRunStatus(status.value)
            run.finished_at = utcnow()
            run.phase = JobRunPhase.DONE
            if status != TaskStatus.FINISHED and not run.reason:
                run.reason = task.error or status.value.lower()
            if status == TaskStatus.CANCELLED:
                run.reason = "cancelled by user"
            job = s.get(Job, run.job_id)
            deleted, job_id, org_id = job.deleted_at is not None, job.id, job.org_id
            run_id = run.id
        # Whatever the end, the run holds and waits for nothing any more.
        self.leases.release((HOLDER_KIND, run_id))
        if deleted:
            self._remove_logs_if_idle(job_id, org_id)


async def first_of(*waits: Any) -> None:
    """Return as soon as one of the coroutines has returned; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@functools.lru_cache(maxsize=1024)
def jobs_page(has_cursor: bool, limit: int) -> Select:
    """The statement of a page of jobs (built once per shape; bound: org_id, cursor).
    The page is cut first, in a subquery on the (org_id, created_at, id) index that
    also finds each job's newest run id (on the (job_id, created_at, id) index); the
    joins then look up those few rows by primary key, whatever plan the database
    would pick for a table it has no statistics of yet."""
    newest = (select(JobRun.id).where(JobRun.job_id == Job.id)
              .order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(1)
              .correlate(Job).scalar_subquery())
    page = keyset(select(*JOB_LISTED,
                         Job.git_password_enc.is_not(None).label("git_password_set"),
                         newest.label("newest_run_id"))
                  .where(Job.org_id == bindparam("org_id"), Job.deleted_at.is_(None)),
                  Job.created_at, Job.id, has_cursor, limit).subquery("page")
    run_cluster, job_cluster = aliased(Cluster), aliased(Cluster)
    return (select(*(c for c in page.c if c.key != "newest_run_id"),
                   job_cluster.name.label("cluster_name"),
                   *(c.label(RUN_PREFIX + c.key) for c in RUN_LISTED),
                   run_cluster.name.label(RUN_PREFIX + "cluster_name"))
            .select_from(page)
            .outerjoin(job_cluster, job_cluster.id == page.c.cluster_id)
            .outerjoin(JobRun, JobRun.id == page.c.newest_run_id)
            .outerjoin(run_cluster, run_cluster.id == JobRun.cluster_id)
            .order_by(page.c.created_at.desc(), page.c.id.desc()))


@functools.lru_cache(maxsize=1024)
def runs_page(has_cursor: bool, limit: int) -> Select:
    """The statement of a page of one job's runs (bound: org_id, ref, cursor)."""
    named = aliased(Job)
    ref = bindparam("ref", type_=String)
    job_id = (select(named.id).where(named.org_id == bindparam("org_id"),
                                     named.deleted_at.is_(None),
                                     or_(named.id == ref, named.name == ref))
              .order_by(case((named.id == ref, 0), else_=1)).limit(1).scalar_subquery())
    on = JobRun.job_id == Job.id
    if has_cursor:
        on = and_(on, after(JobRun.created_at, JobRun.id))
    return (select(Job.id.label("found_job_id"), Job.name.label("job_name"), *RUN_LISTED,
                   Cluster.name.label("cluster_name"))
            .select_from(Job)
            .outerjoin(JobRun, on)
            .outerjoin(Cluster, Cluster.id == JobRun.cluster_id)
            .where(Job.id == job_id)
            .order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(limit + 1))


RUN_KEYS = (*(c.key for c in RUN_LISTED), "cluster_name")
RUN_AT = len(JOB_LISTED) + 2  # where a jobs_page row's run columns start


def listed_run(r: Any) -> Any:
    """The newest run in a row of :func:`jobs_page` (its ``run_`` columns), or None."""
    values = r[RUN_AT:]
    if values[0] is None:
        return None
    return SimpleNamespace(**dict(zip(RUN_KEYS, values, strict=True)))
