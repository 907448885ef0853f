"""The durable task engine on its own: statuses, steps, rollback, cancel, restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bodo_jupyter.platform.models import Organization, Task, TaskStatus, User
from bodo_jupyter.platform.store import Store
from bodo_jupyter.platform.tasks import Step, TaskContext, TaskEngine, TaskHandler


class Recorder(TaskHandler):
    """A handler whose behaviour each test picks; records what the engine made it do."""

    kind = "test.work"

    def __init__(self, mode: str = "ok", gate: asyncio.Event | None = None):
        self.mode = mode
        self.gate = gate
        self.at_gate = asyncio.Event()  # set when step two waits at the gate
        self.calls: list[str] = []

    def steps(self, task: Task) -> list[Step]:
        return [Step("one", "First"), Step("two", "Second")]

    async def run(self, ctx: TaskContext) -> None:
        self.calls.append(f"run resumed={ctx.resumed}")
        async with ctx.step("one"):
            ctx.progress(0.5, "half way")
        async with ctx.step("two"):
            if self.gate is not None:
                self.at_gate.set()
                await self.gate.wait()
            if self.mode == "fail":
                from bodo_jupyter.platform.errors import ProvisionError

                raise ProvisionError("the thing could not be made: quota exceeded")
            if self.mode == "crash":
                raise RuntimeError("boom")

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        self.calls.append(f"rollback {status.value} {reason}")


def make_store(tmp_path: Path) -> tuple[Store, str, str]:
    store = Store(default_path=tmp_path / "db.sqlite")
    store.upgrade()
    with store.session() as s:
        org = Organization(name="o")
        s.add(org)
        s.flush()
        user = User(name="u", org_id=org.id)
        s.add(user)
        s.flush()
        return store, org.id, user.id


def submit(engine: TaskEngine, org: str, user: str) -> str:
    with engine.store.session() as s:
        t = engine.new_task(kind="test.work", org_id=org, user_id=user, cluster_id=None)
        s.add(t)
        s.flush()
        task_id = t.id
    engine.start(task_id)
    return task_id


def status_of(store: Store, task_id: str) -> Task:
    with store.session() as s:
        t = s.get(Task, task_id)
        _ = list(t.events)
        return t


def test_success_records_steps_and_progress(tmp_path):
    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        h = Recorder()
        engine.register(h)
        tid = submit(engine, org, user)
        assert await engine.wait_done(tid, 10) == TaskStatus.FINISHED
        t = status_of(store, tid)
        assert t.progress == 1.0 and t.error is None and t.attempts == 1
        seen = [(e.step, e.state) for e in t.events]
        assert seen == [("one", "started"), ("one", "progress"), ("one", "done"),
                        ("two", "started"), ("two", "done"), ("end", "finished")]
        assert [e.seq for e in t.events] == list(range(1, 7))
        half = t.events[1]
        assert half.message == "half way" and abs(half.progress - 0.25) < 1e-9

    asyncio.run(main())


def test_failure_rolls_back_with_the_users_message(tmp_path):
    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        h = Recorder("fail")
        engine.register(h)
        tid = submit(engine, org, user)
        assert await engine.wait_done(tid, 10) == TaskStatus.FAILED
        t = status_of(store, tid)
        assert t.error == "the thing could not be made: quota exceeded"
        assert h.calls[-1] == "rollback FAILED the thing could not be made: quota exceeded"
        assert ("two", "failed") in [(e.step, e.state) for e in t.events]

    asyncio.run(main())


def test_a_crash_fails_the_task_and_names_the_step(tmp_path):
    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        engine.register(Recorder("crash"))
        tid = submit(engine, org, user)
        assert await engine.wait_done(tid, 10) == TaskStatus.FAILED
        assert status_of(store, tid).error == "Internal error in step two: RuntimeError: boom"

    asyncio.run(main())


def test_cancel_mid_step_rolls_back(tmp_path):
    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        gate = asyncio.Event()
        h = Recorder(gate=gate)
        engine.register(h)
        tid = submit(engine, org, user)
        await asyncio.wait_for(h.at_gate.wait(), 30)  # INPROGRESS, in step two
        await engine.cancel(tid, org)
        assert await engine.wait_done(tid, 10) == TaskStatus.CANCELLED
        assert h.calls[-1] == "rollback CANCELLED Cancelled by user"

    asyncio.run(main())


def test_restart_resumes_an_inprogress_task(tmp_path):
    """A task left INPROGRESS by a dead process is run again on the next start."""

    async def first():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        h = Recorder(gate=asyncio.Event())  # never opens: "killed" mid-step
        engine.register(h)
        tid = submit(engine, org, user)
        await asyncio.wait_for(h.at_gate.wait(), 30)  # INPROGRESS, in step two
        await engine.stop()  # like a shutdown: the task stays INPROGRESS
        return tid

    tid = asyncio.run(first())

    async def second():
        store = Store(default_path=tmp_path / "db.sqlite")
        assert status_of(store, tid).status == TaskStatus.INPROGRESS
        engine = TaskEngine(store=store)
        h = Recorder()
        engine.register(h)
        assert await engine.recover() == [tid]
        assert await engine.wait_done(tid, 10) == TaskStatus.FINISHED
        t = status_of(store, tid)
        assert h.calls == ["run resumed=True"]
        assert t.attempts == 2
        assert any(e.step == "recover" for e in t.events)

    asyncio.run(second())


def test_restart_fails_a_task_that_cannot_resume(tmp_path):
    class NotResumable(Recorder):
        resumable = False

    async def first():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        h = NotResumable(gate=asyncio.Event())
        engine.register(h)
        tid = submit(engine, org, user)
        await asyncio.wait_for(h.at_gate.wait(), 30)  # INPROGRESS, in step two
        await engine.stop()
        return tid

    tid = asyncio.run(first())

    async def second():
        store = Store(default_path=tmp_path / "db.sqlite")
        engine = TaskEngine(store=store)
        h = NotResumable()
        engine.register(h)
        await engine.recover()
        t = status_of(store, tid)
        assert t.status == TaskStatus.FAILED
        assert t.error == "Interrupted by a restart of the control plane"
        assert h.calls == ["rollback FAILED Interrupted by a restart of the control plane"]

    asyncio.run(second())


def test_cancel_during_rollback_still_ends_the_task(tmp_path):
    """A cancel that arrives while a failed task rolls back must not leave it INPROGRESS:
    the rollback runs to its end and the task ends FAILED with its first reason."""

    class SlowRollback(Recorder):
        def __init__(self) -> None:
            super().__init__("fail")
            self.rolling = asyncio.Event()
            self.release = asyncio.Event()

        async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
            self.rolling.set()
            await self.release.wait()
            await super().rollback(ctx, status, reason)

    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        h = SlowRollback()
        engine.register(h)
        tid = submit(engine, org, user)
        await asyncio.wait_for(h.rolling.wait(), 10)
        await engine.cancel(tid, org)
        h.release.set()
        assert await engine.wait_done(tid, 10) == TaskStatus.FAILED
        t = status_of(store, tid)
        assert t.error == "the thing could not be made: quota exceeded"
        assert t.finished_at is not None
        assert h.calls[-1] == "rollback FAILED the thing could not be made: quota exceeded"
        assert [e.step for e in t.events][-2:] == ["rollback", "end"]
        running = list(engine._running.values())  # nothing of the task is left running
        if running:
            await asyncio.wait(running, timeout=10)
        assert all(t.done() for t in running)

    asyncio.run(main())


class Parent(TaskHandler):
    """Starts a child task and follows it, like a job run follows its own cluster."""

    kind = "test.parent"

    def __init__(self) -> None:
        self.child_id: str | None = None
        self.child_started = asyncio.Event()
        self.outcome: TaskStatus | None = None

    def steps(self, task: Task) -> list[Step]:
        return [Step("child", "Waiting for the child")]

    async def run(self, ctx: TaskContext) -> None:
        async with ctx.step("child"):
            with ctx.store.session() as s:
                child = ctx.engine.new_task(kind="test.work", org_id=ctx.org_id,
                                            user_id=ctx.user_id, cluster_id=None,
                                            parent_id=ctx.task_id)
                s.add(child)
                s.flush()
                self.child_id = child.id
            ctx.engine.start(self.child_id)
            self.child_started.set()
            self.outcome = await ctx.follow(self.child_id, "child")


def test_a_parent_follows_its_child_and_cancelling_it_cancels_the_child(tmp_path):
    async def main():
        store, org, user = make_store(tmp_path)
        engine = TaskEngine(store=store)
        parent = Parent()
        gate = asyncio.Event()
        child = Recorder(gate=gate)
        engine.register(parent)
        engine.register(child)

        # A child that finishes: the parent repeats its news and sees its end.
        gate.set()
        with store.session() as s:
            t = engine.new_task(kind="test.parent", org_id=org, user_id=user, cluster_id=None)
            s.add(t)
            s.flush()
            first = t.id
        engine.start(first)
        assert await engine.wait_done(first, 10) == TaskStatus.FINISHED
        assert parent.outcome == TaskStatus.FINISHED
        done_child = status_of(store, parent.child_id)
        assert done_child.parent_id == first
        assert any(e.step == "child" and e.message.startswith("child: ")
                   for e in status_of(store, first).events)

        # A child still running when the parent is cancelled is cancelled with it.
        gate.clear()
        child.at_gate.clear()
        parent.child_started.clear()
        with store.session() as s:
            t = engine.new_task(kind="test.parent", org_id=org, user_id=user, cluster_id=None)
            s.add(t)
            s.flush()
            second = t.id
        engine.start(second)
        await asyncio.wait_for(child.at_gate.wait(), 10)
        await engine.cancel(second, org)
        assert await engine.wait_done(second, 10) == TaskStatus.CANCELLED
        assert await engine.wait_done(parent.child_id, 10) == TaskStatus.CANCELLED
        assert child.calls[-1] == "rollback CANCELLED Cancelled by user"

    asyncio.run(main())
