"""Python client of the bodo-jupyter REST API.

::

    from bodo_jupyter.client import Platform

    platform = Platform()                      # finds the API by itself
    cluster = platform.clusters.create("demo", instance_type="local.medium",
                                       instances=2, wait=True)
    rc = cluster.attach()                      # an ipyparallel Client
    cluster.delete(wait=True)

Where the API is: ``url``/``token`` arguments, else ``BODO_JUPYTER_URL`` /
``BODO_JUPYTER_TOKEN`` (a Jupyter server with the extension sets these for its
kernels and terminals), else the runtime file of the control plane running
for this user's data directory.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from .platform.runtime import default_data_dir, read_info

DONE = ("FINISHED", "FAILED", "CANCELLED")


class PlatformError(Exception):
    """An error from the API (or from reaching it), with a message for people."""

    def __init__(self, message: str, status: int = 0, code: str = "", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field


class TaskFailed(PlatformError):
    def __init__(self, task: Task):
        super().__init__(f"task {task.id} {task.status}: {task.error or 'no reason given'}",
                         code=task.status.lower())
        self.task = task


def discover(url: str | None = None, token: str | None = None) -> tuple[str, str]:
    """Find the API URL and token (see the module docstring for the order)."""
    url = url or os.environ.get("BODO_JUPYTER_URL") or None
    token = token if token is not None else os.environ.get("BODO_JUPYTER_TOKEN")
    if url:
        return url.rstrip("/"), token or ""
    info = read_info(default_data_dir())
    if info:
        return str(info["url"]).rstrip("/"), token if token is not None else info.get("token", "")
    raise PlatformError(
        "no bodo-jupyter control plane found: start one with `bodo-jupyter serve` "
        "(or JupyterLab), or set BODO_JUPYTER_URL and BODO_JUPYTER_TOKEN"
    )


class Platform:
    """Entry point of the client: ``Platform().clusters``, ``.tasks``, ..."""

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 30.0):
        self.url, self.token = discover(url, token)
        self.timeout = timeout
        self.clusters = Clusters(self)
        self.tasks = Tasks(self)
        self.jobs = Jobs(self)
        self.credentials = Credentials(self)

    def __repr__(self) -> str:
        return f"<Platform {self.url}>"

    # -- HTTP -----------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None,
                params: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        url = self.url + path
        if params:
            q = {k: ("true" if v is True else "false" if v is False else v)
                 for k, v in params.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                err = json.loads(raw)["error"]
                raise PlatformError(err["message"], e.code, err.get("code", ""),
                                    err.get("field")) from None
            except (ValueError, KeyError, TypeError):
                text = raw.decode("utf-8", "replace").strip()[:200] or e.reason
                raise PlatformError(f"HTTP {e.code} from {self.url}: {text}", e.code) from None
        except urllib.error.URLError as e:
            raise PlatformError(f"cannot reach the control plane at {self.url}: {e.reason}") \
                from None
        except TimeoutError:
            raise PlatformError(f"the control plane at {self.url} did not answer in time") \
                from None
        return json.loads(raw) if raw else None

    def info(self) -> dict[str, Any]:
        return self.request("GET", "")  # type: ignore[no-any-return]

    def instance_types(self, provider: str | None = None,
                       efa: bool | None = None) -> list[dict[str, Any]]:
        return self.request("GET", "/instance-types",  # type: ignore[no-any-return]
                            params={"provider": provider, "efa": efa})["items"]

    def paginate(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.request("GET", path, params={**params, "cursor": cursor})
            yield from page["items"]
            cursor = page.get("next")
            if not cursor:
                return


class Task:
    """A long action (create, delete, ...) and its steps."""

    def __init__(self, platform: Platform, data: dict[str, Any]):
        self.platform = platform
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.kind: str = data["kind"]
        self.status: str = data["status"]
        self.error: str | None = data.get("error")
        self.progress: float = data.get("progress", 0.0)
        self.steps: list[dict[str, Any]] = data.get("steps", [])
        self.cluster_id: str | None = data.get("cluster_id")

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.kind} {self.status}>"

    @property
    def done(self) -> bool:
        return self.status in DONE

    def refresh(self) -> Task:
        self._update(self.platform.request("GET", f"/tasks/{self.id}"))
        return self

    def events(self) -> list[dict[str, Any]]:
        return self.platform.request("GET", f"/tasks/{self.id}")["events"]  # type: ignore[no-any-return]

    def cancel(self) -> Task:
        self._update(self.platform.request("POST", f"/tasks/{self.id}/cancel", {}))
        return self

    def wait(self, timeout: float | None = None, raise_on_error: bool = True,
             on_event: Callable[[Task, dict[str, Any]], None] | None = None) -> Task:
        """Block until the task ends; ``on_event`` sees every step event as it happens.

        Uses the API's long poll, so it returns as soon as the task ends.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        since = 0
        while True:
            left = 30.0 if deadline is None else max(0.0, deadline - time.monotonic())
            wait = min(25.0, left)
            data = self.platform.request("GET", f"/tasks/{self.id}",
                                         params={"since": since, "wait": f"{wait:.2f}"},
                                         timeout=wait + self.platform.timeout)
            events = data.pop("events", [])
            self._update(data)
            for ev in events:
                since = max(since, ev["seq"])
                if on_event:
                    on_event(self, ev)
            if self.done:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise PlatformError(f"task {self.id} still {self.status} after {timeout:g}s")
        if raise_on_error and self.status != "FINISHED":
            raise TaskFailed(self)
        return self


class Tasks:
    def __init__(self, platform: Platform):
        self.platform = platform

    def get(self, task_id: str) -> Task:
        return Task(self.platform, self.platform.request("GET", f"/tasks/{task_id}"))

    def list(self, status: str | None = None, cluster: str | None = None,
             limit: int | None = None) -> list[Task]:
        out = []
        for item in self.platform.paginate("/tasks", {"status": status, "cluster": cluster}):
            out.append(Task(self.platform, item))
            if limit and len(out) >= limit:
                break
        return out


class Cluster:
    """A cluster record; ``refresh()`` reads it again."""

    def __init__(self, platform: Platform, data: dict[str, Any], task: Task | None = None):
        self.platform = platform
        self.task = task
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.name: str = data["name"]
        self.status: str = data["status"]
        self.provider: str = data["provider"]
        self.instance_type: str = data["instance_type"]
        self.instances: int = data["instances"]
        self.core_count: int = data["core_count"]
        self.status_message: str = data.get("status_message", "")

    def __repr__(self) -> str:
        return (f"<Cluster {self.name} {self.status} {self.instances}x{self.instance_type} "
                f"({self.core_count} ranks)>")

    def refresh(self) -> Cluster:
        self._update(self.platform.request("GET", f"/clusters/{self.id}"))
        return self

    def delete(self, wait: bool = False, timeout: float | None = None) -> Task:
        out = self.platform.request("DELETE", f"/clusters/{self.id}")
        self._update(out["cluster"])
        task = Task(self.platform, out["task"])
        if wait:
            task.wait(timeout)
            self.refresh()
        return task

    def connection_info(self) -> dict[str, Any]:
        return self.platform.request("GET",  # type: ignore[no-any-return]
                                     f"/clusters/{self.id}/connection")["ipyparallel"]

    def attach(self, timeout: float = 30.0) -> Any:
        """An ipyparallel Client connected to every MPI rank of this cluster."""
        from .connect import connect

        return connect(self, timeout=timeout)


class Clusters:
    def __init__(self, platform: Platform):
        self.platform = platform

    def create(self, name: str, instance_type: str, instances: int = 1, *,
               provider: str | None = None, efa: bool = False, client_token: str | None = None,
               wait: bool = False, timeout: float | None = None,
               on_event: Callable[[Task, dict[str, Any]], None] | None = None) -> Cluster:
        body: dict[str, Any] = {"name": name, "instance_type": instance_type,
                                "instances": instances, "efa": efa}
        if provider:
            body["provider"] = provider
        if client_token:
            body["client_token"] = client_token
        try:
            out = self.platform.request("POST", "/clusters", body)
        except PlatformError as e:
            if e.status or not client_token:
                raise
            # The request may or may not have arrived; with a client token the
            # retry is safe: the control plane answers with the same cluster.
            out = self.platform.request("POST", "/clusters", body)
        task = Task(self.platform, out["task"])
        cluster = Cluster(self.platform, out["cluster"], task)
        if wait:
            task.wait(timeout, on_event=on_event)
            cluster.refresh()
        return cluster

    def get(self, name_or_id: str) -> Cluster:
        quoted = urllib.parse.quote(name_or_id, safe="")
        return Cluster(self.platform, self.platform.request("GET", f"/clusters/{quoted}"))

    def list(self, status: str | None = None, all: bool = False) -> list[Cluster]:
        return [Cluster(self.platform, c)
                for c in self.platform.paginate("/clusters", {"status": status,
                                                              "all": all or None})]

    def delete(self, name_or_id: str, wait: bool = False,
               timeout: float | None = None) -> Task:
        return self.get(name_or_id).delete(wait=wait, timeout=timeout)


class JobRun:
    """One run of a job: status, reason, exit code, logs."""

    def __init__(self, job: Job, data: dict[str, Any]):
        self.job = job
        self.platform = job.platform
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.status: str = data["status"]
        self.reason: str | None = data.get("reason")
        self.exit_code: int | None = data.get("exit_code")
        self.task_id: str | None = data.get("task_id")

    def __repr__(self) -> str:
        return f"<JobRun {self.id} of {self.job.name} {self.status}>"

    @property
    def done(self) -> bool:
        return self.status in DONE

    def refresh(self) -> JobRun:
        self._update(self.platform.request("GET", f"/jobs/{self.job.id}/runs/{self.id}"))
        return self

    def task(self) -> Task:
        return self.platform.tasks.get(self.task_id or "")

    def wait(self, timeout: float | None = None, raise_on_error: bool = True,
             on_event: Callable[[Task, dict[str, Any]], None] | None = None) -> JobRun:
        """Block until the run ends (its task's long poll), then read it again."""
        self.task().wait(timeout, raise_on_error=False, on_event=on_event)
        self.refresh()
        if raise_on_error and self.status != "FINISHED":
            raise PlatformError(f"run {self.id} of job {self.job.name} {self.status}: "
                                f"{self.reason or 'no reason given'}", code=self.status.lower())
        return self

    def logs(self, follow: bool = False, offset: int = 0) -> Iterator[str]:
        """The run's log text, in chunks; ``follow`` keeps reading until the run ends."""
        while True:
            chunk = self.platform.request(
                "GET", f"/jobs/{self.job.id}/runs/{self.id}/logs",
                params={"offset": offset, "wait": "20" if follow else None},
                timeout=self.platform.timeout + (20 if follow else 0))
            if chunk["text"]:
                yield chunk["text"]
            offset = chunk["next_offset"]
            if not follow or chunk["complete"]:
                return

    def log_text(self) -> str:
        return "".join(self.logs())


class Job:
    """A job: what to run, where and when."""

    def __init__(self, platform: Platform, data: dict[str, Any]):
        self.platform = platform
        self._update(data)

    def _update(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.name: str = data["name"]
        self.notices: list[str] = data.get("notices", [])

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.data['schedule']['type']}>"

    def refresh(self) -> Job:
        self._update(self.platform.request("GET", f"/jobs/{self.id}"))
        return self

    @property
    def last_run(self) -> JobRun | None:
        last = self.data.get("last_run")
        return JobRun(self, last) if last else None

    def runs(self) -> list[JobRun]:
        return [JobRun(self, r) for r in self.platform.paginate(f"/jobs/{self.id}/runs", {})]

    def run(self, run_id: str = "latest") -> JobRun:
        return JobRun(self, self.platform.request("GET", f"/jobs/{self.id}/runs/{run_id}"))

    def run_now(self) -> JobRun:
        return JobRun(self, self.platform.request("POST", f"/jobs/{self.id}/runs", {}))

    def cancel(self) -> dict[str, Any]:
        return self.platform.request("POST", f"/jobs/{self.id}/cancel", {})  # type: ignore[no-any-return]

    def set_active(self, active: bool) -> Job:
        self._update(self.platform.request("PATCH", f"/jobs/{self.id}", {"active": active}))
        return self

    def delete(self) -> dict[str, Any]:
        return self.platform.request("DELETE", f"/jobs/{self.id}",  # type: ignore[no-any-return]
                                     timeout=self.platform.timeout + 120)


class Jobs:
    def __init__(self, platform: Platform):
        self.platform = platform

    def create(self, name: str, *, command: str, path: str, cluster: str | None = None,
               instance_type: str | None = None, instances: int = 1, efa: bool = False,
               provider: str | None = None, schedule: dict[str, Any] | str | None = None,
               ref: str | None = None, git_username: str | None = None,
               git_password: str | None = None, env: dict[str, str] | None = None,
               timeout_s: int | None = None, retries: int = 0,
               retry_delay_s: int = 0) -> Job:
        """``cluster`` names a RUNNING cluster; or give ``instance_type`` (and
        ``instances``) for a new cluster made for each run and deleted after it."""
        if cluster and instance_type:
            raise PlatformError("give either cluster (an existing one) or instance_type "
                                "(a new one for the job), not both")
        target: Any = cluster
        if not cluster:
            target = {"instance_type": instance_type, "instances": instances, "efa": efa}
            if provider:
                target["provider"] = provider
        body: dict[str, Any] = {"name": name, "cluster": target, "command": command,
                                "path": path, "schedule": schedule or "now",
                                "retries": retries, "retry_delay_s": retry_delay_s}
        for k, v in (("ref", ref), ("git_username", git_username),
                     ("git_password", git_password), ("env", env), ("timeout_s", timeout_s)):
            if v is not None:
                body[k] = v
        return Job(self.platform, self.platform.request("POST", "/jobs", body))

    def get(self, name_or_id: str) -> Job:
        quoted = urllib.parse.quote(name_or_id, safe="")
        return Job(self.platform, self.platform.request("GET", f"/jobs/{quoted}"))

    def list(self) -> list[Job]:
        return [Job(self.platform, j) for j in self.platform.paginate("/jobs", {})]

    def delete(self, name_or_id: str) -> dict[str, Any]:
        return self.get(name_or_id).delete()


class Credentials:
    """The organisation's AWS credentials (the secret is write-only)."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def set(self, access_key_id: str, secret_access_key: str, account_id: str,
            region: str) -> dict[str, Any]:
        return self.platform.request("PUT", "/aws/credentials", {  # type: ignore[no-any-return]
            "access_key_id": access_key_id, "secret_access_key": secret_access_key,
            "account_id": account_id, "region": region}, timeout=self.platform.timeout + 60)

    def show(self) -> dict[str, Any]:
        return self.platform.request("GET", "/aws/credentials")  # type: ignore[no-any-return]

    def delete(self) -> dict[str, Any]:
        return self.platform.request("DELETE", "/aws/credentials")  # type: ignore[no-any-return]
