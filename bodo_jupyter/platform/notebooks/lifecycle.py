"""Task handlers that start and stop notebooks through their provider's backend.

Both resume after a restart of the control plane: a create starts again from a
clean node (``prepare`` stops whatever the interrupted attempt left), a delete
stops what there is and lets go of the cluster again (both idempotent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bodo_jupyter.contract.models import StepName, TaskKind

from ..models import NotebookStatus, TaskStatus
from ..tasks import TaskContext, TaskHandler

if TYPE_CHECKING:
    from .service import NotebookService


class CreateNotebook(TaskHandler):
    """NEW -> INPROGRESS -> RUNNING; on failure or cancel: nothing left, the cluster let
    go (FAILED, or TERMINATED when cancelled)."""

    kind = TaskKind.NOTEBOOK_CREATE
    resumable = True  # prepare() stops an earlier attempt's server; start() begins anew

    def __init__(self, notebooks: NotebookService):
        self.notebooks = notebooks

    async def run(self, ctx: TaskContext) -> None:
        nb_id = ctx.params["notebook_id"]
        svc = self.notebooks
        spec, backend = svc.load(nb_id)
        svc.set_status(nb_id, NotebookStatus.INPROGRESS, "Starting",
                       only_if=(NotebookStatus.NEW, NotebookStatus.INPROGRESS))
        async with ctx.step(StepName.REQUEST_NODE):
            if ctx.resumed:
                ctx.info("Stopping what the interrupted attempt started, if anything")
            await backend.prepare(spec)
            svc.save_details(nb_id, {})
        async with ctx.step(StepName.NODE_RUNNING):
            launch = svc.launch_for(nb_id)
            details = await backend.start(spec, launch,
                                          lambda d: svc.save_details(nb_id, d))
            ctx.progress(1.0, f"server started at {details.get('url')}")
        async with ctx.step(StepName.READINESS_PROBE):
            await backend.wait_ready(spec, details, ctx)
        if spec.cluster_id:
            async with ctx.step(StepName.ATTACH_CLUSTER):
                svc.check_attached(spec)
        ctx.check_cancelled()
        svc.set_status(nb_id, NotebookStatus.RUNNING, "",
                       only_if=(NotebookStatus.INPROGRESS,))

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        nb_id = ctx.params["notebook_id"]
        svc = self.notebooks
        spec, backend = svc.load(nb_id)
        await backend.stop(spec, spec.details)
        svc.save_details(nb_id, {})
        svc.release(nb_id)
        if status == TaskStatus.FAILED:
            svc.set_status(nb_id, NotebookStatus.FAILED, reason,
                           only_if=(NotebookStatus.NEW, NotebookStatus.INPROGRESS))
        else:  # cancelled: by the user, or by a delete that takes over
            svc.set_status(nb_id, NotebookStatus.TERMINATED, "Creation cancelled",
                           only_if=(NotebookStatus.NEW, NotebookStatus.INPROGRESS))


class DeleteNotebook(TaskHandler):
    """STOPPING -> TERMINATED, after any create still running has rolled back."""

    kind = TaskKind.NOTEBOOK_DELETE
    resumable = True  # stop() and release are idempotent
    cancellable = False

    def __init__(self, notebooks: NotebookService):
        self.notebooks = notebooks

    async def run(self, ctx: TaskContext) -> None:
        nb_id = ctx.params["notebook_id"]
        svc = self.notebooks
        # The create must finish its rollback first, or both would stop one server.
        await ctx.wait_for(list(ctx.params.get("cancelled_tasks") or []))
        spec, backend = svc.load(nb_id)
        svc.set_status(nb_id, NotebookStatus.STOPPING, "Deleting")
        async with ctx.step(StepName.STOP_NODE):
            await backend.stop(spec, spec.details)
            svc.save_details(nb_id, {})
        if spec.cluster_id:
            async with ctx.step(StepName.RELEASE_CLUSTER):
                svc.release(nb_id)
        svc.set_status(nb_id, NotebookStatus.TERMINATED, "Deleted")

    async def rollback(self, ctx: TaskContext, status: TaskStatus, reason: str) -> None:
        msg = f"Delete failed: {reason}. Delete the notebook again to retry."
        self.notebooks.set_status(ctx.params["notebook_id"], NotebookStatus.FAILED, msg,
                                  only_if=(NotebookStatus.STOPPING,))
