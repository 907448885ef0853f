"""Task handlers that create and delete clusters through their provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from bodo_jupyter.contract.models import TaskKind

from ..models import ClusterStatus, Task, TaskStatus
from ..tasks import TaskContext, TaskHandler

if TYPE_CHECKING:
    from .service import ClusterService


class CreateCluster(TaskHandler):
    """NEW -> INPROGRESS -> RUNNING; on failure roll back to nothing (FAILED)."""

    kind = TaskKind.CLUSTER_CREATE
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

    kind = TaskKind.CLUSTER_DELETE
    resumable = True  # teardown() is idempotent
    cancellable = False

    def __init__(self, clusters: ClusterService):
        self.clusters = clusters

    def _others(self, ctx: TaskContext) -> list[str]:
        """The cluster's other open lifecycle tasks (a create this delete cancelled)."""
        with ctx.store.session() as s:
            return list(s.scalars(select(Task.id).where(
                Task.cluster_id == ctx.cluster_id, Task.id != ctx.task_id,
                Task.kind.like("cluster.%"),
                Task.status.in_([TaskStatus.NEW, TaskStatus.INPROGRESS]))).all())

    async def run(self, ctx: TaskContext) -> None:
        # The create must finish its rollback before teardown starts, or both would
        # stop the same processes at once.
        await ctx.wait_for(self._others(ctx))
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
