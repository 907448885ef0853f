"""NotebookPanel: the organisation's platform notebooks, create, open, delete."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import NOTEBOOK_CREATE
from bodo_jupyter.sdk import Notebook, Task

from .base import Confirm, Panel, Table, age, badge
from .fields import FormView

COLUMNS = ("Name", "Node type", "Cluster", "Status", "Age")


class NotebookPanel(Panel):
    """The organisation's platform notebooks (name, node type, cluster, status, age);
    *Create notebook* opens the declared form (name, node type, a free RUNNING
    cluster to attach it to) with the create task's progress bar; *Open* gives the
    link to the notebook's JupyterLab (with its token when there is no hub);
    *Delete* asks first.

    In a notebook::

        from bodo_jupyter.widgets import NotebookPanel
        NotebookPanel()
    """

    title = "Bodo notebooks"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.notebooks: dict[str, Notebook] = {}
        self.table = Table(COLUMNS)
        self.deletes: dict[str, Confirm] = {}
        self.opens: dict[str, w.Button] = {}
        self.links: dict[str, w.HTML] = {}
        self.create_button = w.Button(description="Create notebook", icon="plus",
                                      button_style="primary")
        self.create_button.on_click(lambda _: self.open_create())
        self.form: FormView | None = None
        self.form_slot = w.VBox([])
        self.header.children = [*self.header.children, self.create_button]
        self.children = [self.header, self.message, self.form_slot, self.tasks_box,
                         self.table.box]
        self.start()

    async def refresh(self) -> object:
        notebooks = await self.platform.notebooks.list()
        self.notebooks = {n.id: n for n in notebooks}
        rows = {n.id: self.row(n) for n in notebooks}
        self.table.set(rows, self.actions, "No notebooks yet. Create one: a Jupyter "
                                           "server of its own, attached to a cluster.")
        for n in notebooks:
            self.opens[n.id].disabled = n.status != "RUNNING"
            if n.status != "RUNNING":
                self.links[n.id].value = ""
            last = n.data.last_task
            if last is not None and str(last.status) in ("NEW", "INPROGRESS") \
                    and last.id not in self.task_views:
                self.follow_task(await self.platform.tasks.get(last.id), n.name)
        return rows

    def row(self, n: Notebook) -> list[str]:
        d = n.data
        return [f"<b>{html.escape(d.name)}</b>", html.escape(d.instance_type),
                html.escape(d.cluster.name) if d.cluster else "", badge(str(d.status)),
                age(d.created_at)]

    def actions(self, notebook_id: str) -> list[w.Widget]:
        n = self.notebooks[notebook_id]
        confirm = Confirm(n.name)
        confirm.yes.on_click(lambda _: self.spawn(self.delete(notebook_id),
                                                  f"delete {n.name}"))
        self.deletes[notebook_id] = confirm
        opener = w.Button(description="Open", layout=w.Layout(width="auto"),
                          disabled=n.status != "RUNNING")
        self.on(opener, lambda: self.open_link(notebook_id), f"open {n.name}")
        self.opens[notebook_id] = opener
        self.links[notebook_id] = w.HTML("")
        return [opener, self.links[notebook_id], confirm.box]

    async def open_link(self, notebook_id: str) -> str:
        """The notebook's JupyterLab as a link (a kernel cannot open a browser tab)."""
        url = await self.notebooks[notebook_id].url()
        self.links[notebook_id].value = (
            f'<a href="{html.escape(url)}" target="_blank" rel="noopener">'
            "open JupyterLab ↗</a>")
        return url

    def open_create(self) -> FormView:
        if self.form is not None:
            return self.form
        view = FormView(NOTEBOOK_CREATE, "Create")
        self.form = view
        self.on(view.submit, lambda: self.create(view), "create")
        view.cancel.on_click(lambda _: self.close_create())
        self.form_slot.children = [view.box]
        self.open_form(view)
        return view

    def close_create(self) -> None:
        self.form = None
        self.form_slot.children = []

    async def create(self, view: FormView) -> Notebook | None:
        nb = await self.submit(view, lambda req: self.platform.notebooks.create_from(req))
        if nb is None:
            return None
        self.close_create()
        self.say(f"Creating notebook {nb.name}.")
        assert nb.task is not None
        self.follow_task(nb.task, nb.name)
        self.wake()
        return nb

    async def delete(self, notebook_id: str) -> Task:
        n = self.notebooks[notebook_id]
        task = await n.delete()
        self.say(f"Deleting notebook {n.name}.")
        self.follow_task(task, n.name)
        self.wake()
        return task
