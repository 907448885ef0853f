"""Task handlers that create and delete clusters through their provider."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import select

from .models import ClusterStatus, Task, TaskStatus
from .tasks import TaskContext, TaskHandler

if TYPE_CHECKING:
    from .clusters import ClusterService


class CreateCluster(TaskHandler):
    """NEW -> INPROGRESS -> RUNNING; on failure roll back to nothing (FAILED)."""

    kind = "cluster.create"
    resumable = True  # provision() converges when run again

    def __init__(self, clusters: ClusterService):
        self.clusters = clusters

    async def run(self, ctx: TaskContext) -> None:
        spec, provider = self.clusters.load_spec(ctx.cluster_id)
        self.clusters.set_status(spec.id, ClusterStatus.INPROGRESS, "Creating")
        details = await provider.provision(spec, ctx)
        ctx.check_cancelled()
        self.clusters.set_status(spec.id, ClusterStatus.RUNNING, "", details=details,
                                 only_if=(ClusterStatus.INPROGRESS,))

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        spec, provider = self.clusters.load_spec(ctx.cluster_id)
        failed = status == TaskStatus.FAILED
        await provider.teardown(spec, ctx, keep_logs=failed)
        if failed:
            self.clusters.set_status(spec.id, ClusterStatus.FAILED, reason,
                                     only_if=(ClusterStatus.NEW, ClusterStatus.INPROGRESS))
        else:
            # Cancelled: either by the user or by a delete that takes over.
            self.clusters.set_status(spec.id, ClusterStatus.TERMINATED, "Creation cancelled",
                                     only_if=(ClusterStatus.NEW, ClusterStatus.INPROGRESS))


class DeleteCluster(TaskHandler):
    """STOPPING -> TERMINATED, after any create still running has rolled back."""

    kind = "cluster.delete"
    resumable = True  # teardown() is idempotent
    cancellable = False

    def __init__(self, clusters: ClusterService):
        self.clusters = clusters

    async def _wait_for_others(self, ctx: TaskContext) -> None:
        while True:
            with ctx.store.session() as s:
                others = s.scalars(select(Task.id).where(
                    Task.cluster_id == ctx.cluster_id, Task.id != ctx.task_id,
                    Task.status.in_([TaskStatus.NEW, TaskStatus.INPROGRESS]))).all()
            if not others:
                return
            await asyncio.gather(*(ctx.engine.wait_done(t, timeout=5) for t in others))

    async def run(self, ctx: TaskContext) -> None:
        await self._wait_for_others(ctx)
        spec, provider = self.clusters.load_spec(ctx.cluster_id)
        self.clusters.set_status(spec.id, ClusterStatus.STOPPING, "Deleting")
        await provider.teardown(spec, ctx)
        self.clusters.set_status(spec.id, ClusterStatus.TERMINATED, "Deleted")

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        if status == TaskStatus.CANCELLED:
            msg = "Delete cancelled; some resources may remain. Delete the cluster again."
        else:
            msg = f"Delete failed: {reason}. Delete the cluster again to retry."
        self.clusters.set_status(ctx.cluster_id, ClusterStatus.FAILED, msg,
                                 only_if=(ClusterStatus.STOPPING,))
