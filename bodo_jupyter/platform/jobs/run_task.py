"""One job run as a durable task.

Steps: get a cluster (wait for an existing one, or create one for this run),
fetch the source, run ``mpiexec -n <CORE_COUNT> python <command>`` under a
supervisor, and delete the dedicated cluster whatever the end. Failures carry
a reason a person can act on (exit code, timeout, fetch failure, ...);
retries repeat the whole run after a delay.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from traitlets import Integer
from traitlets.config import Configurable, LoggingConfigurable

from bodo_jupyter.contract.models import JobRunPhase, StepName, TaskKind

from ..errors import PlatformError, ProvisionError
from ..identity import Identity
from ..models import (
    ClusterLease,
    ClusterStatus,
    Job,
    JobRun,
    JobRunStatus,
    Task,
    TaskStatus,
    utcnow,
)
from ..providers.base import ClusterSpec
from ..run_as import RunAs
from ..tasks import Step, TaskContext, TaskHandler
from .backend import JobBackend
from .deps import JobDeps, UsesJobDeps
from .service import run_holder
from .sources import SourceFetchFailed, script_problem
from .supervise import printable


class RunFailed(PlatformError):
    status = 500
    code = "run_failed"

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class JobRunner(LoggingConfigurable):
    """Knobs of job runs."""

    max_queued_runs = Integer(
        10, config=True,
        help="Runs that may wait for one busy cluster (or one job's free slot); more fail "
        "with 'queue full'.",
    )


class RunJob(TaskHandler, UsesJobDeps):
    kind = TaskKind.JOB_RUN
    resumable = True
    concurrency_limited = False  # a run mostly waits; it must not block cluster tasks

    def __init__(self, deps: JobDeps, config: Configurable | None = None):
        UsesJobDeps.__init__(self, deps)
        self.runner = JobRunner(parent=config)

    # -- declared steps -------------------------------------------------------------

    def steps(self, task: Task) -> list[Step]:
        dedicated = task.cluster_id is None
        first = Step(StepName.CREATE_CLUSTER, "Creating a cluster for this run") if dedicated \
            else Step(StepName.WAIT_CLUSTER, "Waiting for the cluster")
        out = [first, Step(StepName.FETCH, "Fetching the source"),
               Step(StepName.RUN, "Running mpiexec -n <CORE_COUNT> python <command>")]
        if dedicated:
            out.append(Step(StepName.DELETE_CLUSTER, "Deleting the run's cluster"))
        return out

    # -- records ------------------------------------------------------------------------

    def _load(self, run_id: str) -> tuple[JobRun, Job]:
        with self.store.session() as s:
            run = s.get(JobRun, run_id)
            job = s.get(Job, run.job_id)
            return run, job

    def _update(self, run_id: str, **fields: Any) -> None:
        with self.store.session() as s:
            run = s.get(JobRun, run_id)
            for k, v in fields.items():
                setattr(run, k, v)
            if "cluster_id" in fields and run.task_id:
                # The run's task is listed with the cluster it runs on.
                s.get(Task, run.task_id).cluster_id = fields["cluster_id"]
        self.engine.notify()

    def _log(self, run: JobRun, line: str) -> None:
        self.log_files.append(self.log_files.path(run.org_id, run.job_id, run.id), line)

    def _identity(self, job: Job) -> Identity:
        return Identity(job.created_by, "", job.org_id, "")

    # -- the run ------------------------------------------------------------------------

    async def run(self, ctx: TaskContext) -> None:
        run_id = ctx.params["run_id"]
        run, job = self._load(run_id)
        if job.deleted_at is not None:
            raise RunFailed("the job was deleted", retryable=False)
        self._update(run_id, status=JobRunStatus.INPROGRESS, started_at=run.started_at or utcnow())
        await self._wait_for_slot(ctx, run, job)
        # After a restart with the job still running, follow it instead of starting again.
        following = bool(ctx.resumed and run.details.get("handle"))
        attempt = run.attempts
        while True:
            if not following:
                attempt += 1
                self._update(run_id, attempts=attempt, details={}, exit_code=None)
                if attempt > 1:
                    self._log(run, f"attempt {attempt} of {job.retries + 1}")
            try:
                await self._attempt(ctx, run_id, following)
                break
            except RunFailed as e:
                if not e.retryable or attempt > job.retries:
                    raise
                self._update(run_id, reason=e.message)
                self._log(run, f"attempt {attempt} failed: {e.message}; retrying in "
                               f"{job.retry_delay_s}s")
                ctx.info(f"attempt {attempt} failed ({e.message}); retrying in "
                         f"{job.retry_delay_s}s")
                await asyncio.sleep(job.retry_delay_s)
                following = False
        await self._cleanup(ctx, run_id)

    async def _attempt(self, ctx: TaskContext, run_id: str, following: bool) -> None:
        run, job = self._load(run_id)
        cluster_id = await self._get_cluster(ctx, run, job)
        try:
            spec, provider = self.clusters.load_spec(cluster_id)
            backend = self.backends[provider.name]
            workdir = backend.workspace(spec, run.id) / "src"
            if not following:
                run_as = await backend.prepare(spec, run.id)
                await self._fetch(ctx, run_id, job, workdir, spec, run_as)
            await self._execute(ctx, run_id, spec, backend, workdir, following)
        finally:
            if job.cluster_id:
                self.leases.release(run_holder(run.id, job.name), job.cluster_id)

    # -- clusters -------------------------------------------------------------------------

    async def _wait_for_slot(self, ctx: TaskContext, run: JobRun, job: Job) -> None:
        """At most ``max_concurrent_runs`` runs of a job at once; the rest wait in order."""
        announced = False
        while True:
            with self.store.session() as s:
                ahead = s.scalar(select(func.count()).select_from(JobRun).where(
                    JobRun.job_id == job.id, JobRun.id != run.id,
                    JobRun.status == JobRunStatus.INPROGRESS,
                    JobRun.created_at <= run.created_at,
                    JobRun.phase != JobRunPhase.QUEUED_SLOT))
                waiting = s.scalar(select(func.count()).select_from(JobRun).where(
                    JobRun.job_id == job.id, JobRun.phase == JobRunPhase.QUEUED_SLOT))
            if ahead < job.max_concurrent_runs:
                return
            if not announced:
                if waiting >= self.runner.max_queued_runs:
                    raise RunFailed(f"queue full: {waiting} runs of job {job.name!r} are "
                                    "already waiting", retryable=False)
                self._update(run.id, phase=JobRunPhase.QUEUED_SLOT)
                ctx.info(f"queued: {ahead} run(s) of this job still running "
                         f"(max_concurrent_runs {job.max_concurrent_runs})")
                announced = True
            await self.engine.wait_for_change(30.0)

    async def _get_cluster(self, ctx: TaskContext, run: JobRun, job: Job) -> str:
        if job.cluster_id:
            return await self._acquire(ctx, run, job, job.cluster_id)
        return await self._dedicated(ctx, run, job)

    async def _acquire(self, ctx: TaskContext, run: JobRun, job: Job, cluster_id: str) -> str:
        """Hold the cluster, waiting in line behind its current holder if it is busy."""

        def usable() -> None:
            name, status, message = self.clusters.status(cluster_id)
            if status != ClusterStatus.RUNNING:
                raise RunFailed(f"cluster {name!r} is {status}, not RUNNING"
                                + (f": {message}" if message else ""), retryable=False)

        def on_wait(current: ClusterLease | None, position: int) -> None:
            if position > self.runner.max_queued_runs:
                raise RunFailed(f"queue full: {position - 1} runs already wait for this "
                                "cluster", retryable=False)
            self._update(run.id, phase=JobRunPhase.QUEUED)
            by = f" by {current.holder_label}" if current is not None else ""
            ctx.progress(0.0, f"queued: the cluster is in use{by}")

        async with ctx.step(StepName.WAIT_CLUSTER):
            await self.leases.acquire(run.org_id, cluster_id, run_holder(run.id, job.name),
                                      usable=usable, on_wait=on_wait)
            self._update(run.id, phase=JobRunPhase.FETCHING)
            ctx.progress(1.0, f"cluster {self.clusters.status(cluster_id)[0]} is ready")
        return cluster_id

    async def _dedicated(self, ctx: TaskContext, run: JobRun, job: Job) -> str:
        """Create (or, after a restart, keep waiting for) this run's own cluster."""
        async with ctx.step(StepName.CREATE_CLUSTER):
            cluster_id = run.cluster_id
            if cluster_id is not None and self.clusters.status(cluster_id)[1] in (
                    ClusterStatus.FAILED, ClusterStatus.TERMINATED):
                # A retry after the cluster itself failed: a fresh one, not the broken one.
                await self._cleanup(ctx, run.id, keep_workspace=True)
                self._update(run.id, cluster_id=None)
                cluster_id = None
            if cluster_id is None:
                spec = dict(job.cluster_spec or {})
                name = f"{job.name[:40]}-{run.id[-6:]}"
                cluster_id, task_id = await self.clusters.create_for(
                    self._identity(job), run_holder(run.id, job.name), name=name,
                    provider=spec["provider"], instance_type=spec["instance_type"],
                    instances=spec["instances"], efa=spec["efa"],
                    bodo_version=spec.get("bodo_version"),
                    info={"job_id": job.id, "job_name": job.name}, parent_task=ctx.task_id)
                self._update(run.id, cluster_id=cluster_id, phase=JobRunPhase.CREATING_CLUSTER)
                ctx.info(f"cluster {name} ({cluster_id}) is being created for this run")
            else:
                task_id = self.clusters.create_task_of(cluster_id)
            status = await ctx.follow(task_id, "cluster")
            if status != TaskStatus.FINISHED:
                with self.store.session() as s:
                    err = s.get(Task, task_id).error
                raise RunFailed(f"the run's cluster could not be created: {err}")
            self._update(run.id, phase=JobRunPhase.FETCHING)
        return cluster_id

    async def _cleanup(self, ctx: TaskContext, run_id: str, *,
                       keep_workspace: bool = False) -> None:
        """Remove the run's workspace and its own cluster, if any; idempotent.

        The log stays (it lives apart from the workspace) until the job is deleted.
        """
        run, job = self._load(run_id)
        if run.cluster_id is not None and not keep_workspace:
            spec, provider = self.clusters.load_spec(run.cluster_id)
            backend = self.backends.get(provider.name)
            if backend is not None:
                await backend.remove(spec, run.id)
        if not job.cluster_spec or run.cluster_id is None:
            return
        async with ctx.step(StepName.DELETE_CLUSTER):
            with self.store.session() as s:
                status = self.clusters.status(run.cluster_id)[1]
                open_delete = s.scalars(select(Task.id).where(
                    Task.cluster_id == run.cluster_id, Task.kind == TaskKind.CLUSTER_DELETE,
                    Task.status.in_([TaskStatus.NEW, TaskStatus.INPROGRESS]))).first()
            if status == ClusterStatus.TERMINATED:
                return
            if open_delete is None:
                _, task = await self.clusters.delete(
                    self._identity(job), run.cluster_id, holder=run_holder(run.id, job.name),
                    parent_task=ctx.task_id)
                open_delete = task["id"]
            result = await ctx.follow(open_delete, "cluster")
            if result != TaskStatus.FINISHED:
                raise ProvisionError(f"the run's cluster could not be deleted; delete it "
                                     f"from the cluster list (task {open_delete})")

    # -- source ----------------------------------------------------------------------------

    async def _fetch(self, ctx: TaskContext, run_id: str, job: Job, workdir: Path,
                     spec: ClusterSpec, run_as: RunAs | None) -> None:
        run, job = self._load(run_id)
        fetcher = self.fetcher
        async with ctx.step(StepName.FETCH):
            self._update(run.id, phase=JobRunPhase.FETCHING)
            try:
                if job.source_type == "git":
                    password = (self.secrets.decrypt(job.git_password_enc)
                                if job.git_password_enc else None)
                    ref = f" at {job.ref}" if job.ref else ""
                    ctx.progress(0.0, f"git clone {job.path}{ref}")
                    got = await fetcher.fetch_git(job.path, job.ref, workdir, job.git_username,
                                                  password, run_as,
                                                  waiting=lambda m: ctx.progress(0.0, m))
                    del password
                    msg = f"fetched {job.path}{ref} at commit {got.revision} ({got.files} files)"
                else:
                    _, provider = self.clusters.load_spec(spec.id)
                    bucket, _, prefix = job.path[len("s3://"):].partition("/")
                    creds = self.aws_accounts.source_credentials(job.org_id, field=None)
                    got = await fetcher.fetch_s3(bucket, prefix, workdir, provider.region(spec),
                                                 creds, run_as,
                                                 waiting=lambda m: ctx.progress(0.0, m))
                    msg = f"fetched {got.files} files from {job.path}"
            except PlatformError as e:
                if not isinstance(e, SourceFetchFailed):
                    raise RunFailed(f"source fetch failed: {e.message}", False) from None
                retryable = e.message.startswith(("cannot reach", "git took longer"))
                raise RunFailed(f"source fetch failed: {e.message}", retryable) from None
            self._log(run, msg)
            ctx.progress(1.0, msg)
            problem = script_problem(workdir, list(job.argv))
            if problem:
                raise RunFailed(problem, retryable=False)
            self._update(run.id, source_revision=got.revision)

    # -- execution -------------------------------------------------------------------------

    async def _execute(self, ctx: TaskContext, run_id: str, spec: ClusterSpec,
                       backend: JobBackend, workdir: Path, following: bool) -> None:
        run, job = self._load(run_id)
        log_path = self.log_files.path(run.org_id, run.job_id, run.id)
        command_line = printable(backend.command(spec, list(job.argv)))
        title = f"Running on {spec.core_count} MPI ranks: {command_line}"
        async with ctx.step(StepName.RUN, title):
            if following:
                handle = run.details["handle"]
                exit_path = Path(run.details["exit_path"])
                ctx.info("the job kept running while the control plane restarted; "
                         "following it again")
            else:
                exit_path = backend.run_dir(spec, run.id) / f"exit-{run.attempts}.json"
                exit_path.unlink(missing_ok=True)
                handle = await backend.start(
                    spec, list(job.argv), cwd=workdir, env=dict(job.env), log_path=log_path,
                    exit_path=exit_path, run_id=run.id)
                self._update(run.id, phase=JobRunPhase.RUNNING, command_line=command_line,
                             details={"handle": handle, "exit_path": str(exit_path),
                                      "started": time.time()})
                run, job = self._load(run_id)
            started = float(run.details.get("started", time.time()))
            try:
                code = await self._wait_exit(backend, handle, exit_path, job.timeout_s, started)
            except asyncio.CancelledError:
                if ctx.stopping:
                    # The control plane stops (SIGTERM, SIGINT, a restart): the job runs on
                    # under its supervisor, and the resumed task follows it.
                    raise
                await backend.stop(handle)
                self._log(run, "cancelled by user: job stopped")
                raise
            except TimeoutError:
                await backend.stop(handle)
                reason = f"timed out after {job.timeout_s}s"
                self._log(run, f"{reason}: job stopped")
                raise RunFailed(reason) from None
            except ProvisionError as e:
                raise RunFailed(e.message) from None
            self._update(run.id, exit_code=code, phase=JobRunPhase.RAN)
            if code != 0:
                how = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
                raise RunFailed(f"the command failed with {how}")

    async def _wait_exit(self, backend: JobBackend, handle: dict[str, Any], exit_path: Path,
                         timeout: int | None, started: float) -> int:
        while True:
            left = 30.0 if timeout is None else timeout - (time.time() - started)
            if left <= 0:
                raise TimeoutError
            code = await backend.wait(handle, exit_path, min(left, 30.0))
            if code is not None:
                return code

    # -- after a failure or cancel ------------------------------------------------------------

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        run, job = self._load(ctx.params["run_id"])
        if job.cluster_id:
            self.leases.release(run_holder(run.id, job.name), job.cluster_id)
        handle = run.details.get("handle")
        if handle and run.phase == JobRunPhase.RUNNING and run.cluster_id:
            _, provider = self.clusters.load_spec(run.cluster_id)
            backend = self.backends.get(provider.name)
            if backend is not None:
                await backend.stop(handle)
        await self._cleanup(ctx, run.id)
