"""The durable task engine.

Every long action is a Task row: NEW -> INPROGRESS -> FINISHED, FAILED or
CANCELLED. A handler runs it as a list of named steps; each step writes
TaskEvents (what the user sees under "details"). The database is the truth:
when the process dies mid-task, :meth:`TaskEngine.recover` finds the task
still INPROGRESS on the next start and either resumes it (handlers are written
so that running them again converges) or fails it and rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select
from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from bodo_jupyter.contract.models import EventState, StepName, StepState

from .errors import Conflict, NotFound, PlatformError
from .models import Resource, Task, TaskEvent, TaskStatus, utcnow
from .progress import ResourceRecord, Step

if TYPE_CHECKING:
    from .store import Store

__all__ = ["ResourceRecord", "Step", "TaskCancelled", "TaskContext", "TaskEngine",
           "TaskHandler"]


class TaskCancelled(Exception):
    """Raised inside a handler when the user cancelled the task."""


class TaskHandler:
    """Runs one kind of task. Subclasses set ``kind`` and implement ``run``."""

    kind: ClassVar[str]
    #: Run again from the start after a restart (True), or fail and roll back.
    resumable: ClassVar[bool] = True
    #: Whether users may cancel it (a half-done delete helps nobody).
    cancellable: ClassVar[bool] = True
    #: Counts against TaskEngine.max_concurrent_tasks. Tasks that mostly wait
    #: (job runs) opt out, so they cannot starve cluster creation.
    concurrency_limited: ClassVar[bool] = True

    def steps(self, task: Task) -> list[Step]:
        return []

    async def run(self, ctx: TaskContext) -> None:
        raise NotImplementedError

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        """Undo what ``run`` made after a failure or a cancel. Must be idempotent."""


class TaskContext:
    """What a running handler may touch: its task's events, resources and params."""

    def __init__(self, engine: TaskEngine, task: Task, steps: list[Step], resumed: bool):
        self.engine = engine
        self.store: Store = engine.store
        self.log = engine.log
        self.task_id = task.id
        self.parent_id = task.parent_id
        self.kind = task.kind
        self.org_id = task.org_id
        self.user_id = task.user_id
        self.cluster_id = task.cluster_id
        self.params = dict(task.params or {})
        self.attempt = task.attempts
        self.resumed = resumed
        self.steps = steps
        self._index = {s.name: i for i, s in enumerate(steps)}
        self.current_step: str | None = None
        #: Set while the handler rolls back: cleanup must run to the end even
        #: though the task was cancelled.
        self.rolling_back = False

    # -- events ---------------------------------------------------------------

    def _progress_for(self, step: str, fraction: float) -> float:
        if not self.steps:
            return 0.0
        i = self._index.get(step)
        if i is None:
            return -1.0  # an extra step (recovery, cleanup): leave progress as is
        return min(1.0, (i + max(0.0, min(1.0, fraction))) / len(self.steps))

    def event(self, step: str, state: str, message: str = "", fraction: float = 0.0) -> None:
        progress = self._progress_for(step, fraction)
        self.engine.add_event(self.task_id, step, state, message, progress)

    @asynccontextmanager
    async def step(self, name: str, message: str = "") -> AsyncIterator[TaskContext]:
        """Run one named step, recording when it starts, ends or fails."""
        self.check_cancelled()
        title = message or next((s.title for s in self.steps if s.name == name), name)
        self.current_step = name
        self.event(name, EventState.STARTED, title, 0.0)
        t0 = time.monotonic()
        try:
            yield self
        except asyncio.CancelledError:
            self.event(name, EventState.FAILED, "interrupted", 0.0)
            raise
        except Exception as e:
            msg = e.message if isinstance(e, PlatformError) else f"{type(e).__name__}: {e}"
            self.event(name, EventState.FAILED, msg, 0.0)
            raise
        self.event(name, EventState.DONE, f"{title} ({time.monotonic() - t0:.1f}s)", 1.0)

    def progress(self, fraction: float, message: str) -> None:
        """Report progress inside the current step (e.g. 3/4 engines registered)."""
        if self.current_step is not None:
            self.event(self.current_step, EventState.PROGRESS, message, fraction)

    def info(self, message: str) -> None:
        self.event(self.current_step or StepName.INFO, EventState.INFO, message, 0.0)

    def check_cancelled(self) -> None:
        if not self.rolling_back and self.engine.cancel_requested(self.task_id):
            raise TaskCancelled("cancelled")

    @property
    def stopping(self) -> bool:
        """The control plane is stopping: a cancel now means "resume later", so work that
        outlives us (a running job) must be left running, not stopped."""
        return self.engine.stopping

    # -- child tasks ------------------------------------------------------------

    async def follow(self, child_id: str, label: str) -> TaskStatus:
        """Wait for a child task to end, repeating its news as progress of this step.

        Returns the child's final status; cancelling this task cancels the child
        too (see :meth:`TaskEngine.cancel`).
        """
        seen = 0
        while True:
            status, progress, news = self.engine.newest_event(child_id, after=seen)
            if news is not None:
                seen = news.seq
                if self.current_step is not None:
                    self.event(self.current_step, EventState.PROGRESS, f"{label}: {news.message}",
                               progress)
            if status.done:
                self.check_cancelled()  # a cancel of this task wins over the child's end
                return status
            await self.engine.wait_for_task(child_id, 30.0)
            self.check_cancelled()

    async def wait_for(self, task_ids: list[str]) -> None:
        """Wait until every one of ``task_ids`` has ended (however it ended)."""
        await asyncio.gather(*(self.engine.wait_done(t) for t in task_ids))

    # -- resources ------------------------------------------------------------

    def record_resource(self, provider: str, kind: str, ref: str, data: dict[str, Any]) -> str:
        """Write down a thing that now exists, before doing anything else with it."""
        if self.cluster_id is None:
            raise RuntimeError("resources belong to a cluster")
        with self.store.session() as s:
            r = Resource(
                org_id=self.org_id,
                cluster_id=self.cluster_id,
                provider=provider,
                kind=kind,
                ref=ref,
                data=data,
            )
            s.add(r)
            s.flush()
            return r.id

    def resources(self, kind: str | None = None) -> list[ResourceRecord]:
        """Live resources of this task's cluster, oldest first."""
        with self.store.session() as s:
            q = select(Resource).where(
                Resource.cluster_id == self.cluster_id, Resource.state == "active"
            )
            if kind:
                q = q.where(Resource.kind == kind)
            rows = s.scalars(q.order_by(Resource.created_at, Resource.id)).all()
            return [ResourceRecord(r.id, r.kind, r.ref, dict(r.data)) for r in rows]

    def forget_resource(self, resource_id: str) -> None:
        """Mark a resource as gone (after it was really removed)."""
        with self.store.session() as s:
            r = s.get(Resource, resource_id)
            if r is not None:
                r.state = "deleted"
                r.deleted_at = utcnow()


class TaskEngine(LoggingConfigurable):
    """Runs tasks on the event loop, persists their progress, resumes them."""

    max_concurrent_tasks = Integer(
        16, config=True, help="Tasks running at once; the rest wait as NEW."
    )
    shutdown_grace = Float(
        5.0, config=True, help="Seconds running tasks get to stop when the service stops."
    )

    def __init__(self, store: Store, **kwargs: Any):
        super().__init__(**kwargs)
        self.store = store
        self.handlers: dict[str, TaskHandler] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancel: set[str] = set()
        self._rolling_back: set[str] = set()
        # Wake-ups: one event for "anything changed", one per task that someone waits
        # on (so that a long poll on one task sleeps through news of all the others).
        self._changed = asyncio.Event()
        self._task_changed: dict[str, asyncio.Event] = {}
        self._sem: asyncio.Semaphore | None = None
        self._stopping = False
        self.on_finished: list[Callable[[str, TaskStatus], None]] = []

    def register(self, handler: TaskHandler) -> None:
        self.handlers[handler.kind] = handler

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- creating -------------------------------------------------------------

    def new_task(self, *, kind: str, org_id: str, user_id: str, cluster_id: str | None,
                 params: dict[str, Any] | None = None, parent_id: str | None = None) -> Task:
        """A Task row to add in the caller's transaction (with what it acts on).

        ``parent_id`` makes it a child of a running task: it is listed under the
        parent and cancelled with it.
        """
        handler = self.handlers[kind]
        task = Task(
            kind=kind, org_id=org_id, user_id=user_id, cluster_id=cluster_id,
            params=params or {}, status=TaskStatus.NEW, parent_id=parent_id,
        )
        task.steps = [s.to_dict() for s in handler.steps(task)]
        return task

    def start(self, task_id: str, *, resumed: bool = False) -> None:
        """Schedule a committed NEW (or recovered) task on the event loop."""
        if task_id in self._running:
            return
        t = asyncio.get_running_loop().create_task(self._run(task_id, resumed))
        self._running[task_id] = t
        t.add_done_callback(lambda _t, tid=task_id: self._running.pop(tid, None))

    # -- events and waiting -----------------------------------------------------

    def add_event(self, task_id: str, step: str, state: str, message: str,
                  progress: float = -1.0) -> None:
        with self.store.session() as s:
            task = s.get(Task, task_id)
            if task is None:
                return
            task.last_seq = (task.last_seq or 0) + 1
            ev = TaskEvent(task_id=task_id, seq=task.last_seq, step=step,
                           state=state, message=message,
                           progress=task.progress if progress < 0 else progress)
            if progress >= 0:
                task.progress = max(task.progress, progress)
            if state in (EventState.STARTED, EventState.DONE, EventState.FAILED,
                         EventState.PROGRESS):
                now = dict(task.step_state or {}).get(step, {})
                task.step_state = {**(task.step_state or {}), step: {
                    "state": now.get("state", StepState.STARTED) if state == EventState.PROGRESS
                    else state,
                    "message": message}}
            s.add(ev)
        self.touch(task_id)

    def notify(self) -> None:
        """Wake everything waiting for "any change" (a cluster's status, a lease, ...)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def touch(self, task_id: str) -> None:
        """Wake whoever waits on this task (and the "any change" waiters)."""
        ev = self._task_changed.pop(task_id, None)
        if ev is not None:
            ev.set()
        self.notify()

    async def wait_for_change(self, timeout: float) -> None:
        """Sleep until anything changes or ``timeout`` passes."""
        await _wait(self._changed, timeout)

    async def wait_for_task(self, task_id: str, timeout: float) -> None:
        """Sleep until this task has news (an event, its end) or ``timeout`` passes."""
        ev = self._task_changed.get(task_id)
        if ev is None:
            ev = self._task_changed[task_id] = asyncio.Event()
        await _wait(ev, timeout)

    def status_of(self, task_id: str) -> TaskStatus:
        with self.store.session() as s:
            task = s.get(Task, task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            return TaskStatus(task.status)

    def newest_event(self, task_id: str, after: int) -> tuple[TaskStatus, float,
                                                             TaskEvent | None]:
        """The task's status and progress, and its newest event if newer than ``after``."""
        with self.store.session() as s:
            task = s.get(Task, task_id)
            if task is None:
                raise NotFound(f"task {task_id} not found")
            news = None
            if (task.last_seq or 0) > after:
                news = s.scalars(select(TaskEvent).where(
                    TaskEvent.task_id == task_id, TaskEvent.seq == task.last_seq)).first()
            return TaskStatus(task.status), task.progress, news

    async def wait_done(self, task_id: str, timeout: float | None = None) -> TaskStatus:
        """The task's final status, or its status now when ``timeout`` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status_of(task_id)
            if status.done:
                return status
            left = 60.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return status
            await self.wait_for_task(task_id, min(left, 60.0))

    # -- cancelling -------------------------------------------------------------

    def cancel_requested(self, task_id: str) -> bool:
        return task_id in self._cancel

    async def cancel(self, task_id: str, org_id: str) -> Task:
        """Ask a task to stop; its handler rolls back what it made."""
        with self.store.session() as s:
            task = s.get(Task, task_id)
            if task is None or task.org_id != org_id:
                raise NotFound(f"task {task_id} not found")
            if TaskStatus(task.status).done:
                raise Conflict(f"task {task_id} already ended as {task.status}")
            handler = self.handlers.get(task.kind)
            if handler is not None and not handler.cancellable:
                raise Conflict(f"{task.kind} tasks cannot be cancelled")
            already = task.cancel_requested and task_id in self._cancel
            task.cancel_requested = True
            started = task.status == TaskStatus.INPROGRESS
            children = list(s.scalars(select(Task.id).where(
                Task.parent_id == task_id,
                Task.status.in_([TaskStatus.NEW, TaskStatus.INPROGRESS]))).all())
        if not already:
            self._cancel.add(task_id)
            running = self._running.get(task_id)
            if task_id in self._rolling_back:
                # It failed and is undoing what it made: that runs to its end
                # (a half-done rollback helps nobody); the task then ends FAILED.
                self.add_event(task_id, StepName.ROLLBACK, EventState.INFO,
                               "Cancel requested while rolling back; the rollback finishes")
            elif running is not None and started:
                running.cancel()
            elif running is None:
                self.start(task_id)  # not scheduled here: the runner sees the flag
            for child in children:
                handler = self.handlers.get(self._kind_of(child))
                if handler is None or handler.cancellable:
                    with contextlib.suppress(Conflict, NotFound):
                        await self.cancel(child, org_id)
            self.touch(task_id)
        with self.store.session() as s:
            return s.get(Task, task_id)

    def _kind_of(self, task_id: str) -> str:
        with self.store.session() as s:
            return s.scalar(select(Task.kind).where(Task.id == task_id)) or ""

    # -- running ----------------------------------------------------------------

    async def _run(self, task_id: str, resumed: bool) -> None:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.max_concurrent_tasks)
        with self.store.session() as s:
            task = s.get(Task, task_id)
            handler = self.handlers.get(task.kind) if task is not None else None
        limited = handler is None or handler.concurrency_limited
        async with self._sem if limited else contextlib.nullcontext():
            with self.store.session() as s:
                task = s.get(Task, task_id)
                if task is None or TaskStatus(task.status).done:
                    return
                handler = self.handlers.get(task.kind)
                if handler is None:
                    task.status = TaskStatus.FAILED
                    task.error = f"no handler for task kind {task.kind!r}"
                    task.finished_at = utcnow()
                else:
                    if task.cancel_requested:
                        self._cancel.add(task_id)
                    task.status = TaskStatus.INPROGRESS
                    task.started_at = task.started_at or utcnow()
                    task.attempts += 1
                    steps = [Step(d["name"], d["title"]) for d in task.steps or []]
                    ctx = TaskContext(self, task, steps, resumed)
            self.touch(task_id)
            if handler is None:
                return
            try:
                if resumed:
                    ctx.event(StepName.RECOVER, EventState.INFO,
                              "The control plane restarted during this task; resuming it.")
                ctx.check_cancelled()
                await handler.run(ctx)
            except (asyncio.CancelledError, TaskCancelled):
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                if self._stopping:
                    ctx.event(StepName.SHUTDOWN, EventState.INFO,
                              "The control plane is stopping; this task resumes when it starts.")
                    raise
                await self._end(ctx, handler, TaskStatus.CANCELLED, "Cancelled by user")
            except PlatformError as e:
                await self._end(ctx, handler, TaskStatus.FAILED, e.message)
            except Exception as e:
                self.log.exception("task %s (%s) crashed", task_id, ctx.kind)
                await self._end(ctx, handler, TaskStatus.FAILED,
                                f"Internal error in step {ctx.current_step or 'start'}: "
                                f"{type(e).__name__}: {e}")
            else:
                self._finish(task_id, TaskStatus.FINISHED, None)
            finally:
                self._cancel.discard(task_id)

    async def _end(self, ctx: TaskContext, handler: TaskHandler, status: TaskStatus,
                   reason: str) -> None:
        ctx.event(StepName.ROLLBACK, EventState.STARTED, f"{reason}; rolling back")
        ctx.rolling_back = True
        self._rolling_back.add(ctx.task_id)
        undo = asyncio.ensure_future(handler.rollback(ctx, status, reason))
        try:
            # A rollback interrupted half-way would leave things half-made, so a
            # cancel does not stop it; only a stop of the control plane does (the
            # task then stays open and resumes on the next start).
            while not undo.done():
                try:
                    await asyncio.shield(undo)
                except asyncio.CancelledError:
                    if self._stopping:
                        raise
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
            undo.result()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the first error; say that cleanup failed too
            self.log.exception("rollback of task %s failed", ctx.task_id)
            reason = f"{reason} (rollback also failed: {type(e).__name__}: {e})"
            ctx.event(StepName.ROLLBACK, EventState.FAILED, str(e))
        else:
            ctx.event(StepName.ROLLBACK, EventState.DONE, "Rolled back")
        finally:
            self._rolling_back.discard(ctx.task_id)
        self._finish(ctx.task_id, status, reason)

    def _finish(self, task_id: str, status: TaskStatus, error: str | None) -> None:
        with self.store.session() as s:
            task = s.get(Task, task_id)
            task.status = status
            task.error = error
            task.finished_at = utcnow()
            if status == TaskStatus.FINISHED:
                task.progress = 1.0
        self.add_event(task_id, StepName.END, status.value.lower(), error or "Done")
        for cb in self.on_finished:
            try:
                cb(task_id, status)
            except Exception:
                self.log.exception("task end callback failed")

    # -- restart ------------------------------------------------------------------

    async def recover(self) -> list[str]:
        """Resume (or fail and roll back) the tasks a previous process left open."""
        with self.store.session() as s:
            open_tasks = s.scalars(
                select(Task)
                .where(Task.status.in_([TaskStatus.NEW, TaskStatus.INPROGRESS]))
                .order_by(Task.created_at)
            ).all()
            ids = [(t.id, t.status, t.kind) for t in open_tasks]
        for task_id, status, kind in ids:
            handler = self.handlers.get(kind)
            was_running = status == TaskStatus.INPROGRESS
            if handler is not None and not handler.resumable and was_running:
                with self.store.session() as s:
                    task = s.get(Task, task_id)
                    ctx = TaskContext(self, task, [Step(**d) for d in task.steps or []], True)
                await self._end(ctx, handler, TaskStatus.FAILED,
                                "Interrupted by a restart of the control plane")
            else:
                self.log.info("resuming task %s (%s)", task_id, kind)
                self.start(task_id, resumed=was_running)
        return [i for i, _, _ in ids]

    async def stop(self) -> None:
        """Stop running tasks without ending them: they resume on the next start."""
        self._stopping = True
        running = list(self._running.values())
        for t in running:
            t.cancel()
        if running:
            await asyncio.wait(running, timeout=self.shutdown_grace)


async def _wait(ev: asyncio.Event, timeout: float) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
    # arrives as the event is set, and a cancelled task would carry on.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await ev.wait()
