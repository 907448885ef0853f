"""ClusterPanel: the organisation's clusters, the create form, progress and delete."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import CLUSTER_CREATE
from bodo_jupyter.sdk import Cluster, Task

from .base import Confirm, Panel, Table, age, badge
from .fields import FormView

COLUMNS = ("Name", "Provider", "Instance type", "Instances", "Cores", "EFA", "Status",
           "Holder", "Age")


class ClusterPanel(Panel):
    """The organisation's clusters as a table (name, provider, instance type,
    instances, cores, EFA, status, holder, age); *Create cluster* opens the declared
    form (live instance types, only EFA-capable ones when EFA is ticked); each create
    or delete shows a progress bar driven by its task's events; *Delete* asks first.

    In a notebook::

        from bodo_jupyter.widgets import ClusterPanel
        ClusterPanel()
    """

    title = "Bodo clusters"
    form_spec = CLUSTER_CREATE

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clusters: dict[str, Cluster] = {}
        self.table = Table(COLUMNS)
        self.deletes: dict[str, Confirm] = {}
        self.create_button = w.Button(description="Create cluster", icon="plus",
                                      button_style="primary")
        self.create_button.on_click(lambda _: self.open_create())
        self.form: FormView | None = None
        self.form_slot = w.VBox([])
        self.header.children = [*self.header.children, self.create_button]
        self.children = [self.header, self.message, self.form_slot, self.tasks_box,
                         self.table.box]
        self.start()

    # -- the table ------------------------------------------------------------------------

    async def refresh(self) -> object:
        clusters = await self.platform.clusters.list()
        self.clusters = {c.id: c for c in clusters}
        rows = {c.id: self.row(c) for c in clusters}
        self.table.set(rows, self.actions, "No clusters yet. Create one to run %%px cells "
                                           "on MPI ranks.")
        for c in clusters:  # tasks started elsewhere (the CLI, the sidebar) show too
            last = c.data.last_task
            if last is not None and str(last.status) in ("NEW", "INPROGRESS") \
                    and last.id not in self.task_views:
                self.follow_task(await self.platform.tasks.get(last.id), c.name)
        return rows

    def row(self, c: Cluster) -> list[str]:
        d = c.data
        holder = d.holder.label if d.holder else (
            f"dedicated to {d.dedicated_to.kind}" if getattr(d, "dedicated_to", None) else "")
        status = badge(str(d.status))
        if d.status_message and str(d.status) == "FAILED":
            status += f' <span title="{html.escape(d.status_message)}">ⓘ</span>'
        return [f"<b>{html.escape(d.name)}</b>", html.escape(d.provider),
                html.escape(d.instance_type), str(d.instances), str(d.core_count),
                "yes" if d.efa else "no", status, html.escape(holder), age(d.created_at)]

    def actions(self, cluster_id: str) -> list[w.Widget]:
        c = self.clusters[cluster_id]
        confirm = Confirm(c.name)
        confirm.yes.on_click(lambda _: self.spawn(self.delete(cluster_id),
                                                  f"delete {c.name}"))
        self.deletes[cluster_id] = confirm
        return [confirm.box]

    # -- create ---------------------------------------------------------------------------

    def open_create(self) -> FormView:
        """Show the create form (again, if it is open) with its live choices."""
        if self.form is not None:
            return self.form
        view = FormView(self.form_spec, "Create")
        self.form = view
        self.on(view.submit, lambda: self.create(view), "create")
        view.cancel.on_click(lambda _: self.close_create())
        self.form_slot.children = [view.box]
        self.open_form(view)
        return view

    def close_create(self) -> None:
        self.form = None
        self.form_slot.children = []

    async def create(self, view: FormView) -> Cluster | None:
        cluster = await self.submit(
            view, lambda req: self.platform.clusters.create_from(req))
        if cluster is None:
            return None
        self.close_create()
        self.say(f"Creating cluster {cluster.name}.")
        assert cluster.task is not None
        self.follow_task(cluster.task, cluster.name)
        self.wake()
        return cluster

    # -- delete ---------------------------------------------------------------------------

    async def delete(self, cluster_id: str) -> Task:
        c = self.clusters[cluster_id]
        task = await c.delete()
        self.say(f"Deleting cluster {c.name}.")
        self.follow_task(task, c.name)
        self.wake()
        return task
