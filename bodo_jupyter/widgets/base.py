"""What every panel shares: the async SDK on the kernel's running loop, tasks that
``close()`` cancels, the idle refresh that backs off, live choices, tables, and the
progress bar of a running task.

Never blocking the kernel: a panel does all its I/O in asyncio tasks on the loop
the kernel runs (ipykernel runs one; a button's handler only schedules a
coroutine). Running tasks are followed with the API's long poll
(:meth:`Task.follow`), lists are read by an idle refresh that waits 10 s after a
change and 1.6 times longer after each quiet read, up to 60 s, and is woken at
once by what the panel itself does.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import logging
import zoneinfo
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

import ipywidgets as w

from bodo_jupyter.contract.forms import NEW_CLUSTER, Form
from bodo_jupyter.contract.runtime import ContractError, Model
from bodo_jupyter.sdk import APIError, AsyncPlatform, Task

from .fields import ERROR_STYLE, HELP_STYLE, Choice, FieldView, FormView, plain, text

log = logging.getLogger(__name__)

IDLE_FIRST = 10.0  # s: the first idle refresh after a change
IDLE_MAX = 60.0  # s: the longest wait between idle refreshes
BACKOFF = 1.6  # each quiet refresh waits this much longer
SHOWN_TASKS = 4  # task bars kept in view (running ones, then the newest ended)
STATUS_COLOURS = {"RUNNING": "#2e7d32", "FINISHED": "#2e7d32", "READY": "#2e7d32",
                  "FAILED": "#c62828", "CANCELLED": "#757575", "TERMINATED": "#757575",
                  "NEW": "#1565c0", "INPROGRESS": "#ef6c00", "STOPPING": "#ef6c00"}


def badge(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#616161")
    return (f'<span style="border: 1px solid {colour}; color: {colour}; border-radius: 3px;'
            f' padding: 0 4px; font-size: 85%">{html.escape(status)}</span>')


def age(iso: str | None, now: datetime.datetime | None = None) -> str:
    """How long ago an ISO 8601 time was, briefly: 5 s, 3 min, 2 h, 4 d."""
    if not iso:
        return ""
    try:
        then = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    now = now or datetime.datetime.now(datetime.UTC)
    s = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit}"
    return f"{s} s"


def when(iso: str | None) -> str:
    """An ISO time as people read it (UTC, to the minute)."""
    if not iso:
        return ""
    try:
        t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def no_loop_message() -> str:
    return ("bodo_jupyter.widgets panels run in a Jupyter kernel (or inside a running "
            "asyncio event loop): there is no running event loop here")


def descendants(box: w.Box) -> list[w.Widget]:
    """The widgets inside a box (and inside those), with their layouts and styles."""
    out: list[w.Widget] = []
    todo = list(box.children)
    while todo:
        x = todo.pop()
        if x in out:
            continue
        out.append(x)
        for name in ("layout", "style"):
            part = getattr(x, name, None)
            if isinstance(part, w.Widget):
                out.append(part)
        if isinstance(x, w.Box):
            todo.extend(x.children)
    return out


class Table:
    """Rows of cells (HTML) with a box of actions each, kept by key: a refresh updates
    the cells in place and adds or drops rows, so buttons stay the same widgets."""

    def __init__(self, columns: Iterable[str]):
        self.columns = list(columns)
        self.header = [w.HTML(f"<b>{html.escape(c)}</b>") for c in [*self.columns, ""]]
        self.rows: dict[str, tuple[list[w.HTML], w.HBox]] = {}
        self.empty = w.HTML("")
        self.grid = w.GridBox(layout=w.Layout(
            grid_template_columns=f"repeat({len(self.columns)}, max-content) auto",
            grid_gap="2px 12px", align_items="center", overflow="auto"))
        self.box = w.VBox([self.grid, self.empty])

    def set(self, rows: Mapping[str, list[str]],
            actions: Callable[[str], list[w.Widget]], empty: str) -> None:
        """``rows``: key -> cells' HTML, in order; ``actions(key)`` makes a new row's
        buttons once."""
        for key in list(self.rows):
            if key not in rows:
                del self.rows[key]
        for key, cells in rows.items():
            row = self.rows.get(key)
            if row is None:
                row = ([w.HTML() for _ in self.columns], w.HBox(actions(key)))
                self.rows[key] = row
            for cell, value in zip(row[0], cells, strict=True):
                if cell.value != value:
                    cell.value = value
        children = (*self.header, *[c for key in rows
                                    for c in (*self.rows[key][0], self.rows[key][1])])
        if tuple(self.grid.children) != children:  # no message to the front end for naught
            self.grid.children = children
        self.empty.value = text(empty, HELP_STYLE) if not rows else ""

    def cell(self, key: str, column: str) -> str:
        """A cell's text (tags removed), for tests and people reading state."""
        return plain(self.rows[key][0][self.columns.index(column)].value)


class TaskView:
    """A running task as a progress bar (0 to 1, from its events), its status and the
    newest step's message."""

    def __init__(self, title_html: str):
        self.title = w.HTML(title_html)
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                   layout=w.Layout(width="14em"))
        self.status = w.HTML(badge("NEW"))
        self.step = w.HTML("")
        self.box = w.HBox([self.title, self.bar, self.status, self.step],
                          layout=w.Layout(align_items="center", grid_gap="8px"))
        self.task: Task | None = None

    def show(self, task: Task, message: str = "") -> None:
        self.task = task
        self.bar.value = max(0.0, min(1.0, float(task.data.progress or 0.0)))
        status = task.status
        self.status.value = badge(status)
        if status == "FINISHED":
            self.bar.bar_style = "success"
        elif status in ("FAILED", "CANCELLED"):
            self.bar.bar_style = "danger" if status == "FAILED" else "warning"
        if task.done and task.data.error:
            self.step.value = text(task.data.error, ERROR_STYLE)
        elif message:
            self.step.value = text(message, HELP_STYLE)


class Confirm:
    """A Delete button that asks first: Delete -> "Delete NAME?" Yes / No."""

    def __init__(self, name: str, label: str = "Delete"):
        self.button = w.Button(description=label, button_style="danger",
                               layout=w.Layout(width="auto"))
        self.question = w.HTML(f"{label} <b>{html.escape(name)}</b>?")
        self.yes = w.Button(description="Yes", button_style="danger",
                            layout=w.Layout(width="auto"))
        self.no = w.Button(description="No", layout=w.Layout(width="auto"))
        self.box = w.HBox([self.button])
        self.button.on_click(lambda _: self.ask(True))
        self.no.on_click(lambda _: self.ask(False))
        self.yes.on_click(lambda _: self.ask(False))

    def ask(self, on: bool) -> None:
        self.box.children = [self.question, self.yes, self.no] if on else [self.button]


class Panel(w.VBox):
    """A panel: a title, a line for messages, what the subclass puts in ``body``; an
    idle refresh of ``refresh()`` and any tasks it follows, all cancelled by
    ``close()``.

    ``platform``: an :class:`AsyncPlatform` to share between panels (not closed by
    them); by default the panel makes its own from ``url``/``token`` or the
    environment (``$BODO_JUPYTER_URL``: a Jupyter server with the extension sets it
    for its kernels) and closes it with the panel.
    """

    title = ""
    idle_first = IDLE_FIRST
    idle_max = IDLE_MAX

    def __init__(self, platform: AsyncPlatform | None = None, *, url: str | None = None,
                 token: str | None = None, idle_first: float | None = None,
                 idle_max: float | None = None):
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(no_loop_message()) from None
        super().__init__()
        self._own_platform = platform is None
        self.platform = platform if platform is not None else AsyncPlatform(url, token)
        if idle_first is not None:
            self.idle_first = idle_first
        if idle_max is not None:
            self.idle_max = idle_max
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.refreshes = 0  # idle and woken refreshes done (tests, curiosity)
        self.delay = self.idle_first  # the idle refresh's current wait
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._info: Any = None
        self.message = w.HTML("")
        self.task_views: dict[str, TaskView] = {}
        self.tasks_box = w.VBox([])
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.wake())
        self.header = w.HBox([w.HTML(f"<h3 style='margin: 4px 0'>{html.escape(self.title)}"
                                     "</h3>"), self.refresh_button],
                             layout=w.Layout(align_items="center", grid_gap="12px"))
        self.children = [self.header, self.message]

    # -- tasks on the kernel's loop ------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str = "") -> asyncio.Task[Any]:
        """Run ``coro`` as a task of this panel (``close()`` cancels it); its error is
        shown in the panel's message line, in words."""
        if self.closed:
            coro.close()
            raise RuntimeError("the panel is closed")
        task = self._loop.create_task(self._guard(coro, what))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _guard(self, coro: Awaitable[Any], what: str) -> Any:
        try:
            out = await coro
        except (APIError, ContractError) as e:
            self.say(f"{what}: {e.message}" if what else e.message, error=True)
            out = None
        except Exception as e:  # a bug: say it rather than lose it in the loop's log
            log.exception("bodo_jupyter.widgets: %s", what or "task")
            self.say(f"{what or 'error'}: {type(e).__name__}: {e}", error=True)
            out = None
        await self.notify()  # not after a cancel: that ends the task at once
        return out

    def on(self, button: w.Button, make: Callable[[], Coroutine[Any, Any, Any]],
           what: str = "") -> None:
        """``button``'s click schedules the coroutine ``make()`` makes (never runs I/O
        in the handler)."""
        button.on_click(lambda _: self.spawn(make(), what))

    def say(self, message: str, error: bool = False) -> None:
        self.message.value = text(message, ERROR_STYLE if error else HELP_STYLE)

    @property
    def message_text(self) -> str:
        return plain(self.message.value)

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, pred: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Wait until ``pred()`` is true, checked after each change the panel makes
        (a refresh, a task's event, a submit's answer)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (value := pred()):
                    await self._changed.wait()
                return value

    # -- the idle refresh -----------------------------------------------------------------

    def start(self) -> None:
        """Begin the idle refresh (subclasses call it at the end of ``__init__``)."""
        self.spawn(self._idle(), "refresh")

    def wake(self) -> None:
        """Refresh now, and wait the shortest idle time after it."""
        self.delay = self.idle_first
        self._wake.set()

    async def refresh(self) -> object:
        """Read the lists the panel shows; returns what it saw (a change resets the
        idle wait)."""
        return None

    async def _idle(self) -> None:
        seen: object = object()
        while True:
            self._wake.clear()
            try:
                now = await self.refresh()
                if self.message_text.startswith("refresh:"):
                    self.say("")
            except APIError as e:
                now = seen
                self.say(f"refresh: {e.message}", error=True)
            self.refreshes += 1
            await self.notify()
            if now != seen:
                self.delay = self.idle_first
            else:
                self.delay = min(self.delay * BACKOFF, self.idle_max)
            seen = now
            try:
                async with asyncio.timeout(self.delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def info(self) -> Any:
        if self._info is None:
            self._info = await self.platform.info()
        return self._info

    # -- following tasks ------------------------------------------------------------------

    async def follow(self, task: Task, view: TaskView) -> Task:
        """Drive ``view`` from ``task``'s events (long polls) until it ends; then wake
        the refresh."""
        view.show(task)
        await self.notify()
        async for ev in task.follow():
            view.show(task, f"{ev.step}: {ev.message}" if ev.message else ev.step)
            await self.notify()
        view.show(task)
        self.wake()
        return task

    # -- task bars ------------------------------------------------------------------------

    def follow_task(self, task: Task, name: str) -> TaskView:
        """A progress bar for ``task`` (about ``name``), driven by its events."""
        if task.id in self.task_views:
            return self.task_views[task.id]
        kind = str(task.data.kind).split(".")[-1]
        view = TaskView(f"{html.escape(kind)} <b>{html.escape(name)}</b>")
        view.show(task)
        self.task_views[task.id] = view
        self.spawn(self.follow(task, view), f"{kind} {name}")
        self._show_tasks()
        return view

    def _show_tasks(self) -> None:
        views = list(self.task_views.items())
        running = [(k, v) for k, v in views if v.task is None or not v.task.done]
        ended = [(k, v) for k, v in views if (k, v) not in running]
        keep = dict(running + ended[-max(0, SHOWN_TASKS - len(running)):])
        self.task_views = {k: v for k, v in views if k in keep}
        self.tasks_box.children = [v.box for v in self.task_views.values()]

    # -- forms ----------------------------------------------------------------------------

    async def choices(self, source: str, values: Mapping[str, Any], form: Form
                      ) -> tuple[list[Choice], str]:
        """A live list a form's choice field names: (choices, a note when there are none
        or they cannot be had -- in words, never just an empty list)."""
        info = await self.info()
        provider = values.get("provider") or info.default_provider
        try:
            if source == "instance_types":
                efa = bool(values.get("efa"))
                items = await self.platform.instance_types(provider, efa=True if efa else None)
                if efa:
                    items = [t for t in items if t.efa]
                note = "" if items else (
                    f"The {provider} provider offers no EFA-capable instance type."
                    if efa else f"The {provider} provider offers no instance type.")
                return [(f"{t.name} ({t.cores} cores, {t.memory_gib:g} GiB"
                         f"{', EFA' if t.efa else ''})", t.name) for t in items], note
            if source == "notebook_instance_types":
                items = await self.platform.notebooks.instance_types(provider)
                return [(f"{t.name} ({t.cores} cores, {t.memory_gib:g} GiB)", t.name)
                        for t in items], "" if items else "No notebook instance types."
            if source == "providers":
                return [(p.display_name, p.name) for p in info.providers], ""
            if source == "bodo_versions":
                versions = await self.platform.bodo_versions(provider)
                return [(f"{v.version} (default)" if v.default else v.version, v.version)
                        for v in versions], ""
            if source == "free_clusters":
                free = [c for c in await self.platform.clusters.list(status="RUNNING")
                        if c.data.holder is None and c.data.dedicated_to is None]
                out = [(f"{c.name} ({c.data.core_count} ranks)", c.name) for c in free]
                if form.name == "job-create":
                    out = [("NEW: a cluster made for each run", NEW_CLUSTER), *out]
                return out, "" if out else "No RUNNING cluster is free."
            if source == "timezones":
                zones = sorted(zoneinfo.available_timezones() - {"UTC"})
                return [(z, z) for z in ["UTC", *zones]], ""
        except APIError as e:
            hint = (" Link valid credentials in the Settings panel (SettingsPanel())."
                    if provider == "aws" else "")
            return [], f"{e.message}{hint}"
        return [], ""

    def open_form(self, view: FormView) -> None:
        """Fill the form's live choices now, and again when a boolean or a choice
        changes (EFA -> only EFA-capable instance types)."""
        generation = [0]

        async def fill(changed: str | None) -> None:
            generation[0] += 1
            mine = generation[0]
            values = view.values()
            for fv in view.choice_fields():
                if fv.field.name == changed:
                    continue
                choices, note = await self.choices(fv.field.choices_from, values, view.form)
                if generation[0] != mine:
                    return
                fv.set_choices(choices, note)
            view.loaded = True  # type: ignore[attr-defined]

        def changed(fv: FieldView) -> Callable[[Any], None]:
            return lambda _: self.spawn(fill(fv.field.name), "choices")

        view.loaded = False  # type: ignore[attr-defined]
        for fv in view.fields.values():
            if fv.field.kind in ("boolean", "choice"):
                fv.input.observe(changed(fv), names="value")
        self.spawn(fill(None), "choices")

    async def submit(self, view: FormView, send: Callable[[Model], Awaitable[Any]]) -> Any:
        """Build the request from the form (the contract's judgement) and send it (the
        API's); an error goes under the field it names, in words. Secrets are cleared
        whatever happens."""
        view.clear_errors()
        view.submit.disabled = True
        try:
            try:
                request = view.form.build(view.values())
            except ContractError as e:
                view.show_error(e.field, e.message)
                return None
            try:
                return await send(request)
            except APIError as e:
                view.show_error(e.field, e.message)
                return None
        finally:
            view.clear_secrets()
            view.submit.disabled = False
            await self.notify()

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything the panel runs (refresh, follows, submits) and close its
        widgets; a platform the panel made is closed too."""
        if not getattr(self, "closed", True):  # (also from __del__ of a half-made panel)
            self.closed = True
            for task in list(self.tasks):
                task.cancel()
            if self._own_platform and not self._loop.is_closed():
                closing = self._loop.create_task(self.platform.close())
                self.tasks.add(closing)
                closing.add_done_callback(self.tasks.discard)
            for widget in descendants(self):  # their comms too, not only the panel's
                widget.close()
        super().close()

    async def wait_closed(self) -> None:
        """After ``close()``: until every task of the panel has ended."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
