"""The async client of the bodo-jupyter API.

::

    from bodo_jupyter.sdk import AsyncPlatform

    async with AsyncPlatform() as platform:          # finds the API by itself
        cluster = await platform.clusters.create("demo", "local.medium", 2, wait=True)
        async for event in cluster.task.follow():     # or: await cluster.task.wait()
            ...
        await cluster.delete(wait=True)

Every call is a coroutine and never blocks the event loop, so many of them
(long polls, log follows) run at once in one loop: the JupyterHub spawner,
a widget or a UI server can follow hundreds of tasks side by side.
:class:`bodo_jupyter.sdk.Platform` is the blocking twin for scripts and the CLI.

What comes back are *handles* (:class:`Cluster`, :class:`Notebook`,
:class:`Task`, :class:`Job`, :class:`JobRun`) around the contract's typed models
(``handle.data``), with the methods that act on them. Requests are built from the contract's request
models, so the SDK sends exactly what the server parses.

One rule keeps the blocking twin possible: these coroutines await only the
transport (``platform.request``, ``transport.offload``) and each other, never
``asyncio`` itself (no sleeps, timeouts or threads of their own). Over the
blocking transport they then never suspend, and :mod:`.sync` runs them to the
end in the caller's thread with no event loop.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar
from urllib.parse import quote

from bodo_jupyter.contract import models
from bodo_jupyter.contract.discovery import default_data_dir, read_info, url_problem
from bodo_jupyter.contract.runtime import Model

from .errors import APIError, TaskFailed
from .http import BaseTransport, Transport

POLL = 25.0  # seconds one long poll waits for news
MAX_PAGE = 500  # most items the API returns in one page
DONE = ("FINISHED", "FAILED", "CANCELLED")
EventCallback = Callable[["Task", models.TaskEvent], None]


def discover(url: str | None = None, token: str | None = None) -> tuple[str, str]:
    """Where the API is: the arguments, else ``$BODO_JUPYTER_URL`` and
    ``$BODO_JUPYTER_TOKEN`` (a Jupyter server with the extension sets both for its
    kernels and terminals), else the runtime file of the control plane running for
    this user's data directory."""
    url = url or os.environ.get("BODO_JUPYTER_URL") or None
    token = token if token is not None else os.environ.get("BODO_JUPYTER_TOKEN")
    if url:
        problem = url_problem(url)
        if problem:
            raise APIError(problem)
        return url.rstrip("/"), token or ""
    info = read_info(default_data_dir())
    if info:
        return str(info["url"]).rstrip("/"), token if token is not None else info.get("token", "")
    raise APIError(
        "no bodo-jupyter control plane found: start one with `bodo-jupyter serve` "
        "(or JupyterLab), or set BODO_JUPYTER_URL and BODO_JUPYTER_TOKEN")


def _ref(name_or_id: str) -> str:
    return quote(name_or_id, safe="")


class AsyncPlatform:
    """Entry point: ``.clusters``, ``.notebooks``, ``.tasks``, ``.jobs``, ``.credentials``."""

    #: How requests are made; the blocking client uses one whose coroutines never suspend.
    transport_class: type[BaseTransport] = Transport

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 30.0):
        self.url, self.token = discover(url, token)
        self.transport = self.transport_class(self.url, self.token, timeout)
        self.clusters = Clusters(self)
        self.notebooks = Notebooks(self)
        self.tasks = Tasks(self)
        self.jobs = Jobs(self)
        self.credentials = Credentials(self)

    def __repr__(self) -> str:
        return f"<AsyncPlatform {self.url}>"

    async def __aenter__(self) -> AsyncPlatform:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.aclose()

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict[str, Any] | None = None, wait: float | None = None) -> Any:
        return await self.transport.request(method, path, body=body, params=params, wait=wait)

    async def pages(self, path: str, params: dict[str, Any] | None = None,
                    page_size: int | None = None, limit: int | None = None
                    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated list (newest first), following each page's ``next``
        cursor; ``page_size`` items per request (the server's default: 50, at most 500),
        at most ``limit`` items in all."""
        if limit is not None and limit < 1:
            return
        size = page_size or (min(limit, MAX_PAGE) if limit else None)
        cursor, seen = None, 0
        while True:
            page = await self.request("GET", path, params={
                **(params or {}), "limit": size, "cursor": cursor})
            for item in page["items"]:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = page.get("next")
            if not cursor:
                return

    async def info(self) -> models.Info:
        return models.Info.from_dict(await self.request("GET", ""))

    async def instance_types(self, provider: str | None = None,
                             efa: bool | None = None) -> list[models.InstanceType]:
        out = await self.request("GET", "/instance-types",
                                 params={"provider": provider, "efa": efa})
        return [models.InstanceType.from_dict(t) for t in out["items"]]

    async def bodo_versions(self, provider: str | None = None) -> list[models.BodoVersion]:
        """The Bodo versions a provider's clusters may run, newest first."""
        out = await self.request("GET", "/bodo-versions", params={"provider": provider})
        return [models.BodoVersion.from_dict(v) for v in out["items"]]


class Handle:
    """A record of the API and what can be done with it; ``data`` is its typed model
    (of the class ``model``), read again by ``refresh()``."""

    model: ClassVar[type[Model]]
    data: Any

    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    def _set(self, data: dict[str, Any]) -> None:
        model = self.__dict__.get("_model") or self.model  # an instance's own, if it has one
        self.data = model.from_dict(data)

    @property
    def id(self) -> str:
        return str(self.data.id)

    def __getattr__(self, name: str) -> Any:
        # Fields of the record read as attributes of the handle (cluster.instance_type).
        if name.startswith("_") or "data" not in self.__dict__:
            raise AttributeError(name)
        try:
            return getattr(self.__dict__["data"], name)
        except AttributeError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None


class Stateful(Handle):
    """A handle whose record has a status (a task, a cluster, a run)."""

    @property
    def status(self) -> str:
        return str(self.data.status)


class Ending(Stateful):
    """A handle of something that ends: a task, a job run."""

    @property
    def done(self) -> bool:
        """Whether it has ended: FINISHED, FAILED or CANCELLED."""
        return self.status in DONE


# -- tasks --------------------------------------------------------------------------------


class Task(Ending):
    """A long action (create, delete, a job run, readying an AWS account) and its steps."""

    model = models.TaskDetail
    data: models.TaskDetail

    def __init__(self, platform: AsyncPlatform, data: dict[str, Any]):
        super().__init__(platform)
        self._set(data)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.kind} {self.status}>"

    async def refresh(self) -> Task:
        self._set(await self.platform.request("GET", f"/tasks/{self.id}"))
        return self

    async def cancel(self) -> Task:
        self._set(await self.platform.request("POST", f"/tasks/{self.id}/cancel", {}))
        return self

    async def follow(self, since: int = 0, poll: float = POLL
                     ) -> AsyncIterator[models.TaskEvent]:
        """Every event after ``since`` as it happens, until the task ends (long polls)."""
        async for ev in self._events(since, poll, None):
            yield ev

    async def _events(self, since: int, poll: float, deadline: float | None
                      ) -> AsyncIterator[models.TaskEvent]:
        # Long polls that end by the deadline (time.monotonic()), if there is one; after
        # it, _Deadline. A deadline rather than a timeout around the whole: the blocking
        # client runs this without an event loop.
        while True:
            wait = poll
            if deadline is not None:
                wait = min(poll, deadline - time.monotonic())
                if wait <= 0:
                    raise _Deadline
            data = await self.platform.request(
                "GET", f"/tasks/{self.id}", params={"since": since, "wait": f"{wait:g}"},
                wait=wait)
            events = data.pop("events", [])
            data["events"] = []
            self._set(data)
            for ev in events:
                since = max(since, ev["seq"])
                yield models.TaskEvent.from_dict(ev)
            if self.done:
                return

    async def wait(self, timeout: float | None = None, raise_on_error: bool = True,
                   on_event: EventCallback | None = None) -> Task:
        """Until the task ends; ``on_event`` sees each event. Raises :class:`TaskFailed`
        when it does not finish (unless ``raise_on_error`` is false)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async for ev in self._events(0, POLL, deadline):
                if on_event is not None:
                    on_event(self, ev)
        except _Deadline:
            raise APIError(f"task {self.id} still {self.status} after {timeout:g}s",
                           code="timeout") from None
        if raise_on_error and self.status != "FINISHED":
            raise TaskFailed(f"task {self.id} {self.status}: "
                             f"{self.data.error or 'no reason given'}",
                             self.status.lower(), self)
        return self


class _Deadline(Exception):
    """A task's wait reached its deadline (Task._events)."""


class Tasks:
    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    async def get(self, task_id: str) -> Task:
        return Task(self.platform, await self.platform.request("GET", f"/tasks/{_ref(task_id)}"))

    async def iterate(self, status: str | None = None, cluster: str | None = None, *,
                      page_size: int | None = None, limit: int | None = None
                      ) -> AsyncIterator[Task]:
        """Tasks newest first (without their events), page after page as they are read."""
        async for item in self.platform.pages("/tasks", {"status": status, "cluster": cluster},
                                              page_size, limit):
            yield Task(self.platform, item)

    async def list(self, status: str | None = None, cluster: str | None = None,
                   limit: int | None = None) -> list[Task]:
        """Every task (or the newest ``limit``), newest first."""
        return [t async for t in self.iterate(status, cluster, limit=limit)]


# -- clusters -----------------------------------------------------------------------------


class Cluster(Stateful):
    """A cluster record; ``task`` is the task started by the call that returned it."""

    model = models.Cluster
    data: models.Cluster

    def __init__(self, platform: AsyncPlatform, data: dict[str, Any],
                 task: Task | None = None):
        super().__init__(platform)
        self.task = task
        self._set(data)

    def __repr__(self) -> str:
        d = self.data
        return (f"<Cluster {d.name} {d.status} {d.instances}x{d.instance_type} "
                f"({d.core_count} ranks)>")

    @property
    def name(self) -> str:
        return self.data.name

    async def refresh(self) -> Cluster:
        self._set(await self.platform.request("GET", f"/clusters/{self.id}"))
        return self

    async def delete(self, wait: bool = False, timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Task:
        out = await self.platform.request("DELETE", f"/clusters/{self.id}")
        self._set(out["cluster"])
        self.task = Task(self.platform, out["task"])
        if wait:
            await self.task.wait(timeout, on_event=on_event)
            await self.refresh()
        return self.task

    async def connection(self) -> models.Connection:
        """How to attach: the ipyparallel connection info (it holds the cluster's key)."""
        return models.Connection.from_dict(
            await self.platform.request("GET", f"/clusters/{self.id}/connection"))

    async def attach(self, timeout: float = 30.0) -> Any:
        """An ipyparallel Client connected to every MPI rank of this cluster."""
        from .attach import connect

        if self.status != "RUNNING":
            await self.refresh()
        if self.status != "RUNNING":
            message = self.data.status_message
            raise APIError(f"cluster {self.name} is {self.status}, not RUNNING"
                           + (f": {message}" if message else ""))
        conn = await self.connection()
        return await self.platform.transport.offload(connect, conn, timeout)


class Clusters:
    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    async def create(self, name: str, instance_type: str, instances: int = 1, *,
                     provider: str | None = None, efa: bool = False,
                     bodo_version: str | None = None,
                     client_token: str | None = None, wait: bool = False,
                     timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Cluster:
        """Start creating a cluster; with ``wait``, until it is RUNNING (or raise).
        ``bodo_version``: one of ``bodo_versions(provider)`` (default: the newest)."""
        req = models.CreateClusterRequest(name=name, instance_type=instance_type,
                                          instances=instances, efa=efa, provider=provider,
                                          bodo_version=bodo_version,
                                          client_token=client_token)
        return await self.create_from(req, wait=wait, timeout=timeout, on_event=on_event)

    async def create_from(self, req: models.CreateClusterRequest, *, wait: bool = False,
                          timeout: float | None = None,
                          on_event: EventCallback | None = None) -> Cluster:
        body = req.to_dict()
        try:
            out = await self.platform.request("POST", "/clusters", body)
        except APIError as e:
            if e.status or not req.client_token:
                raise
            # The request may or may not have arrived; with a client token the retry
            # is safe: the control plane answers with the cluster made the first time.
            out = await self.platform.request("POST", "/clusters", body)
        cluster = Cluster(self.platform, out["cluster"], Task(self.platform, out["task"]))
        if wait:
            assert cluster.task is not None
            await cluster.task.wait(timeout, on_event=on_event)
            await cluster.refresh()
        return cluster

    async def get(self, name_or_id: str) -> Cluster:
        return Cluster(self.platform,
                       await self.platform.request("GET", f"/clusters/{_ref(name_or_id)}"))

    async def iterate(self, status: str | None = None, all: bool = False, *,
                      page_size: int | None = None, limit: int | None = None
                      ) -> AsyncIterator[Cluster]:
        """Clusters newest first, page after page as they are read."""
        async for c in self.platform.pages("/clusters", {"status": status, "all": all or None},
                                           page_size, limit):
            yield Cluster(self.platform, c)

    async def list(self, status: str | None = None, all: bool = False,
                   limit: int | None = None) -> list[Cluster]:
        """Every cluster (or the newest ``limit``), newest first."""
        return [c async for c in self.iterate(status, all, limit=limit)]

    async def delete(self, name_or_id: str, wait: bool = False,
                     timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Task:
        cluster = await self.get(name_or_id)
        return await cluster.delete(wait=wait, timeout=timeout, on_event=on_event)


# -- notebooks ----------------------------------------------------------------------------


class Notebook(Stateful):
    """A notebook record; ``task`` is the task started by the call that returned it."""

    model = models.Notebook
    data: models.Notebook

    def __init__(self, platform: AsyncPlatform, data: dict[str, Any],
                 task: Task | None = None):
        super().__init__(platform)
        self.task = task
        self._set(data)

    def __repr__(self) -> str:
        d = self.data
        on = f" on {d.cluster.name}" if d.cluster else ""
        return f"<Notebook {d.name} {d.status} {d.instance_type}{on}>"

    @property
    def name(self) -> str:
        return self.data.name

    async def refresh(self) -> Notebook:
        self._set(await self.platform.request("GET", f"/notebooks/{self.id}"))
        return self

    async def wait(self, timeout: float | None = None,
                   on_event: EventCallback | None = None) -> Notebook:
        """Until the task that returned it (its create or delete) ends; raises
        :class:`TaskFailed` when it does not finish."""
        if self.task is None:
            last = self.data.last_task
            if last is None:
                return self
            self.task = await self.platform.tasks.get(last.id)
        await self.task.wait(timeout, on_event=on_event)
        return await self.refresh()

    async def delete(self, wait: bool = False, timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Task:
        out = await self.platform.request("DELETE", f"/notebooks/{self.id}")
        self._set(out["notebook"])
        self.task = Task(self.platform, out["task"])
        if wait:
            await self.task.wait(timeout, on_event=on_event)
            await self.refresh()
        return self.task

    async def connection(self) -> models.NotebookConnection:
        """Its server's URL and, without a hub, its token (a secret)."""
        return models.NotebookConnection.from_dict(
            await self.platform.request("GET", f"/notebooks/{self.id}/connection"))

    async def url(self) -> str:
        """The URL to open in a browser: JupyterLab, with the token when there is one."""
        conn = await self.connection()
        return lab_url(conn.url, conn.token)


def lab_url(base: str, token: str | None) -> str:
    """JupyterLab at ``base``; a token goes in the query, which Jupyter accepts once
    and then keeps as a cookie."""
    url = base.rstrip("/") + "/lab"
    return f"{url}?token={quote(token, safe='')}" if token else url


class Notebooks:
    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    async def instance_types(self, provider: str | None = None) -> list[models.InstanceType]:
        """The node shapes a notebook may have."""
        out = await self.platform.request("GET", "/notebook-instance-types",
                                          params={"provider": provider})
        return [models.InstanceType.from_dict(t) for t in out["items"]]

    async def create(self, name: str, instance_type: str, cluster: str | None = None, *,
                     server_env: dict[str, str] | None = None, wait: bool = False,
                     timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Notebook:
        """Start creating a notebook, attached to ``cluster`` (a name or id) if given;
        with ``wait``, until it is RUNNING (or raise). ``server_env``: a hub spawner's
        environment for the server (write-only)."""
        req = models.CreateNotebookRequest(name=name, instance_type=instance_type,
                                           cluster=cluster, server_env=server_env)
        return await self.create_from(req, wait=wait, timeout=timeout, on_event=on_event)

    async def create_from(self, req: models.CreateNotebookRequest, *, wait: bool = False,
                          timeout: float | None = None,
                          on_event: EventCallback | None = None) -> Notebook:
        out = await self.platform.request("POST", "/notebooks", req.to_dict())
        nb = Notebook(self.platform, out["notebook"], Task(self.platform, out["task"]))
        if wait:
            await nb.wait(timeout, on_event=on_event)
        return nb

    async def get(self, name_or_id: str) -> Notebook:
        return Notebook(self.platform,
                        await self.platform.request("GET", f"/notebooks/{_ref(name_or_id)}"))

    async def iterate(self, all: bool = False, *, page_size: int | None = None,
                      limit: int | None = None) -> AsyncIterator[Notebook]:
        """Notebooks newest first, page after page as they are read."""
        async for n in self.platform.pages("/notebooks", {"all": all or None},
                                           page_size, limit):
            yield Notebook(self.platform, n)

    async def list(self, all: bool = False, limit: int | None = None) -> list[Notebook]:
        """Every notebook (or the newest ``limit``), newest first."""
        return [n async for n in self.iterate(all, limit=limit)]

    async def delete(self, name_or_id: str, wait: bool = False,
                     timeout: float | None = None,
                     on_event: EventCallback | None = None) -> Task:
        nb = await self.get(name_or_id)
        return await nb.delete(wait=wait, timeout=timeout, on_event=on_event)


# -- jobs ---------------------------------------------------------------------------------


class JobRun(Ending):
    """One run of a job: status, reason, exit code, logs."""

    model = models.JobRunDetail
    data: models.JobRunDetail

    def __init__(self, job: Job, data: dict[str, Any]):
        super().__init__(job.platform)
        self.job = job
        self._set(data)

    def __repr__(self) -> str:
        return f"<JobRun {self.id} of {self.job.name} {self.status}>"

    async def refresh(self) -> JobRun:
        self._set(await self.platform.request("GET", f"/jobs/{self.job.id}/runs/{self.id}"))
        return self

    async def task(self) -> Task:
        return await self.platform.tasks.get(self.data.task_id)

    async def wait(self, timeout: float | None = None, raise_on_error: bool = True,
                   on_event: EventCallback | None = None) -> JobRun:
        """Until the run ends (its task's long poll), then read it again."""
        task = await self.task()
        await task.wait(timeout, raise_on_error=False, on_event=on_event)
        await self.refresh()
        if raise_on_error and self.status != "FINISHED":
            raise TaskFailed(f"run {self.id} of job {self.job.name} {self.status}: "
                             f"{self.data.reason or 'no reason given'}",
                             self.status.lower(), task)
        return self

    async def logs(self, follow: bool = False, offset: int = 0,
                   poll: float = 20.0) -> AsyncIterator[str]:
        """The run's log, in chunks as they come; ``follow`` keeps reading until it ends."""
        while True:
            wait = poll if follow else None
            chunk = await self.platform.request(
                "GET", f"/jobs/{self.job.id}/runs/{self.id}/logs",
                params={"offset": offset, "wait": f"{wait:g}" if wait else None}, wait=wait)
            if chunk["text"]:
                yield chunk["text"]
            offset = chunk["next_offset"]
            if not follow or chunk["complete"]:
                return

    async def log_text(self) -> str:
        return "".join([c async for c in self.logs()])


class Job(Handle):
    """A job: what to run, where and when."""

    model = models.JobCreated
    data: models.JobCreated

    def __init__(self, platform: AsyncPlatform, data: dict[str, Any],
                 model: type[Model] | None = None):
        super().__init__(platform)
        self._model = model  # a list item's (models.Job): no env or command line
        self._set(data)

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.data.schedule.type}>"

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def notices(self) -> list[str]:
        return list(self.data.notices or [])

    @property
    def last_run(self) -> JobRun | None:
        last = self.data.last_run
        return JobRun(self, last.to_dict()) if last is not None else None

    async def refresh(self) -> Job:
        """Read the job again, in full (also a job that came from a list)."""
        notices = getattr(self.data, "notices", None)
        self._model = None
        self._set(await self.platform.request("GET", f"/jobs/{self.id}"))
        self.data.notices = notices
        return self

    async def iterate_runs(self, *, page_size: int | None = None, limit: int | None = None
                           ) -> AsyncIterator[JobRun]:
        """The job's runs newest first, page after page as they are read."""
        async for r in self.platform.pages(f"/jobs/{self.id}/runs", None, page_size, limit):
            yield JobRun(self, r)

    async def runs(self, limit: int | None = None) -> list[JobRun]:
        """Every run (or the newest ``limit``), newest first."""
        return [r async for r in self.iterate_runs(limit=limit)]

    async def run(self, run_id: str = "latest") -> JobRun:
        return JobRun(self, await self.platform.request(
            "GET", f"/jobs/{self.id}/runs/{_ref(run_id)}"))

    async def run_now(self) -> JobRun:
        return JobRun(self, await self.platform.request("POST", f"/jobs/{self.id}/runs", {}))

    async def cancel(self) -> models.JobCancelled:
        return models.JobCancelled.from_dict(
            await self.platform.request("POST", f"/jobs/{self.id}/cancel", {}))

    async def set_active(self, active: bool) -> Job:
        body = models.UpdateJobRequest(active=active).to_dict()
        self._set(await self.platform.request("PATCH", f"/jobs/{self.id}", body))
        return self

    async def delete(self) -> models.JobDeleted:
        return models.JobDeleted.from_dict(await self.platform.request(
            "DELETE", f"/jobs/{self.id}", wait=120.0))


class Jobs:
    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    async def create(self, name: str, *, command: str, path: str,
                     cluster: str | None = None, instance_type: str | None = None,
                     instances: int = 1, efa: bool = False, provider: str | None = None,
                     bodo_version: str | None = None,
                     schedule: models.JobScheduleRequest | dict[str, Any] | str | None = None,
                     ref: str | None = None, git_username: str | None = None,
                     git_password: str | None = None, env: dict[str, str] | None = None,
                     timeout_s: int | None = None, retries: int = 0,
                     retry_delay_s: int = 0) -> Job:
        """``cluster`` names a RUNNING cluster; or give ``instance_type`` (and
        ``instances``) for a new cluster made for each run and deleted after it."""
        if bool(cluster) == bool(instance_type):
            raise APIError("give either cluster (an existing one) or instance_type "
                           "(a new one for the job)", field="cluster")
        target: str | models.NewCluster = cluster or models.NewCluster(
            instance_type=instance_type or "", instances=instances, efa=efa,
            provider=provider, bodo_version=bodo_version)
        if isinstance(schedule, dict):
            schedule = models.JobScheduleRequest.from_dict(schedule)
        req = models.CreateJobRequest(
            name=name, cluster=target, command=command, path=path, schedule=schedule,
            ref=ref, git_username=git_username, git_password=git_password, env=env,
            timeout_s=timeout_s, retries=retries, retry_delay_s=retry_delay_s)
        return await self.create_from(req)

    async def create_from(self, req: models.CreateJobRequest) -> Job:
        return Job(self.platform, await self.platform.request("POST", "/jobs", req.to_dict()))

    async def get(self, name_or_id: str) -> Job:
        return Job(self.platform,
                   await self.platform.request("GET", f"/jobs/{_ref(name_or_id)}"))

    async def iterate(self, *, page_size: int | None = None, limit: int | None = None
                      ) -> AsyncIterator[Job]:
        """Jobs newest first, page after page as they are read. As lists show them:
        without ``env`` and ``command_line`` (``job.refresh()`` reads them)."""
        async for j in self.platform.pages("/jobs", None, page_size, limit):
            yield Job(self.platform, j, models.Job)

    async def list(self, limit: int | None = None) -> list[Job]:
        """Every job (or the newest ``limit``), newest first; see :meth:`iterate`."""
        return [j async for j in self.iterate(limit=limit)]

    async def delete(self, name_or_id: str) -> models.JobDeleted:
        return await (await self.get(name_or_id)).delete()


# -- AWS ----------------------------------------------------------------------------------


class Credentials:
    """The organisation's AWS credentials (the secret is write-only)."""

    def __init__(self, platform: AsyncPlatform):
        self.platform = platform

    async def set(self, access_key_id: str, secret_access_key: str, account_id: str,
                  region: str) -> models.AwsAccount:
        req = models.AwsCredentialsRequest(access_key_id=access_key_id,
                                           secret_access_key=secret_access_key,
                                           account_id=account_id, region=region)
        return models.AwsAccount.from_dict(await self.platform.request(
            "PUT", "/aws/credentials", req.to_dict(), wait=60.0))

    async def show(self) -> models.AwsAccount:
        return models.AwsAccount.from_dict(
            await self.platform.request("GET", "/aws/credentials"))

    async def delete(self) -> models.AwsCredentialsDeleted:
        return models.AwsCredentialsDeleted.from_dict(
            await self.platform.request("DELETE", "/aws/credentials"))

