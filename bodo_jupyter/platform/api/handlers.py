"""The REST API (``/bodo/api/v1``), described by ``bodo_jupyter/contract/openapi.yaml``.

Each handler is a mixin; :func:`make_handlers` combines them with the host's
base class (token auth when standalone, jupyter-server auth in Jupyter).
"""

from __future__ import annotations

import functools
from importlib.metadata import version
from typing import Any

from bodo_jupyter.contract.models import (
    AwsCredentialsRequest,
    CreateClusterRequest,
    CreateJobRequest,
    CreateNotebookRequest,
    UpdateJobRequest,
)

from ...contract import SPEC_PATH
from ..providers.aws.accounts import AwsAccounts
from .base import API_PREFIX, APIMixin

OPENAPI = SPEC_PATH  # the API contract, served at GET /openapi.yaml


class RootAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        plane = self.plane
        self.send({
            "version": version("bodo-jupyter"),
            "user": {"id": ident.user_id, "name": ident.user_name},
            "organization": {"id": ident.org_id, "name": ident.org_name},
            "providers": [{"name": p.name, "display_name": p.display_name,
                           "max_instances": p.max_instances}
                          for p in plane.providers.values()],
            "default_provider": plane.default_provider,
        })


class OpenAPISpecAPI(APIMixin):
    async def get(self) -> None:
        self.identity()
        self.set_header("Content-Type", "application/yaml")  # type: ignore[attr-defined]
        self.finish(OPENAPI.read_text())  # type: ignore[attr-defined]


class InstanceTypesAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        items = await self.plane.clusters.instance_types(
            ident, self.arg("provider"), self.bool_arg("efa"))
        self.send({"items": items})


class BodoVersionsAPI(APIMixin):
    async def get(self) -> None:
        self.identity()
        self.send({"items": await self.plane.clusters.bodo_versions(self.arg("provider"))})


class ClustersAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        # Lists read in the store's reader threads: the event loop serves on meanwhile.
        self.send(await self.plane.store.read(
            self.plane.clusters.list, ident, status=self.arg("status"),
            include_terminated=bool(self.bool_arg("all")),
            limit=self.int_arg("limit", 50), cursor=self.arg("cursor")))

    async def post(self) -> None:
        ident = self.identity()
        cluster, task, created = await self.plane.clusters.create(
            ident, self.body(CreateClusterRequest))
        self.send({"cluster": cluster, "task": task}, 202 if created else 200)


class ClusterAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(self.plane.clusters.get(ident, ref))

    async def delete(self, ref: str) -> None:
        ident = self.identity()
        cluster, task = await self.plane.clusters.delete(ident, ref)
        self.send({"cluster": cluster, "task": task}, 202)


class ClusterConnectionAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(await self.plane.clusters.connection(ident, ref))


class TasksAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        self.send(await self.plane.store.read(
            self.plane.tasks.list, ident, status=self.arg("status"), cluster=self.arg("cluster"),
            limit=self.int_arg("limit", 50), cursor=self.arg("cursor")))


class TaskAPI(APIMixin):
    async def get(self, task_id: str) -> None:
        ident = self.identity()
        since = self.int_arg("since", 0)
        wait = self.float_arg("wait", 0.0, maximum=60.0)
        if wait > 0:
            self.send(await self.plane.tasks.watch(ident, task_id, since, wait))
        else:
            self.send(self.plane.tasks.get(ident, task_id, since))


class TaskCancelAPI(APIMixin):
    async def post(self, task_id: str) -> None:
        ident = self.identity()
        self.send(await self.plane.tasks.cancel(ident, task_id), 202)


class JobsAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        self.send(await self.plane.store.read(
            self.plane.jobs.list, ident, limit=self.int_arg("limit", 50),
            cursor=self.arg("cursor")))

    async def post(self) -> None:
        ident = self.identity()
        self.send(await self.plane.jobs.create(ident, self.body(CreateJobRequest)), 201)


class JobAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(self.plane.jobs.get(ident, ref))

    async def patch(self, ref: str) -> None:
        ident = self.identity()
        self.send(self.plane.jobs.update(ident, ref, self.body(UpdateJobRequest)))

    async def delete(self, ref: str) -> None:
        ident = self.identity()
        self.send(await self.plane.jobs.delete(ident, ref))


class JobCancelAPI(APIMixin):
    async def post(self, ref: str) -> None:
        ident = self.identity()
        self.send(await self.plane.jobs.cancel(ident, ref), 202)


class JobRunsAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(await self.plane.store.read(
            self.plane.jobs.runs, ident, ref, limit=self.int_arg("limit", 50),
            cursor=self.arg("cursor")))

    async def post(self, ref: str) -> None:
        ident = self.identity()
        self.send(await self.plane.jobs.run_now(ident, ref), 202)


class JobRunAPI(APIMixin):
    async def get(self, ref: str, run_id: str) -> None:
        ident = self.identity()
        self.send(self.plane.jobs.run(ident, ref, run_id))


class JobRunLogsAPI(APIMixin):
    async def get(self, ref: str, run_id: str) -> None:
        ident = self.identity()
        self.send(await self.plane.jobs.logs(
            ident, ref, run_id, self.int_arg("offset", 0),
            self.float_arg("wait", 0.0, maximum=60.0), self.int_arg("limit", 0) or None))


class NotebookInstanceTypesAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        self.send({"items": self.plane.notebooks.instance_types(ident, self.arg("provider"))})


class NotebooksAPI(APIMixin):
    async def get(self) -> None:
        ident = self.identity()
        self.send(await self.plane.store.read(
            self.plane.notebooks.list, ident, include_terminated=bool(self.bool_arg("all")),
            limit=self.int_arg("limit", 50), cursor=self.arg("cursor")))

    async def post(self) -> None:
        ident = self.identity()
        notebook, task = await self.plane.notebooks.create(
            ident, self.body(CreateNotebookRequest))
        self.send({"notebook": notebook, "task": task}, 202)


class NotebookAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(self.plane.notebooks.get(ident, ref))

    async def delete(self, ref: str) -> None:
        ident = self.identity()
        notebook, task = await self.plane.notebooks.delete(ident, ref)
        self.send({"notebook": notebook, "task": task}, 202)


class NotebookConnectionAPI(APIMixin):
    async def get(self, ref: str) -> None:
        ident = self.identity()
        self.send(self.plane.notebooks.connection(ident, ref))


class AwsCredentialsAPI(APIMixin):
    def _accounts(self) -> AwsAccounts:
        return self.plane.aws_accounts

    async def get(self) -> None:
        ident = self.identity()
        self.send(self._accounts().show(ident))

    async def put(self) -> None:
        ident = self.identity()
        self.send(await self._accounts().set(ident, self.body(AwsCredentialsRequest)), 202)

    async def delete(self) -> None:
        ident = self.identity()
        self.send(self._accounts().delete(ident))


ROUTES: list[tuple[str, type[APIMixin]]] = [
    ("", RootAPI),
    ("/openapi.yaml", OpenAPISpecAPI),
    ("/instance-types", InstanceTypesAPI),
    ("/bodo-versions", BodoVersionsAPI),
    ("/clusters", ClustersAPI),
    ("/clusters/([^/]+)", ClusterAPI),
    ("/clusters/([^/]+)/connection", ClusterConnectionAPI),
    ("/tasks", TasksAPI),
    ("/tasks/([^/]+)", TaskAPI),
    ("/tasks/([^/]+)/cancel", TaskCancelAPI),
    ("/jobs", JobsAPI),
    ("/jobs/([^/]+)", JobAPI),
    ("/jobs/([^/]+)/cancel", JobCancelAPI),
    ("/jobs/([^/]+)/runs", JobRunsAPI),
    ("/jobs/([^/]+)/runs/([^/]+)", JobRunAPI),
    ("/jobs/([^/]+)/runs/([^/]+)/logs", JobRunLogsAPI),
    ("/notebook-instance-types", NotebookInstanceTypesAPI),
    ("/notebooks", NotebooksAPI),
    ("/notebooks/([^/]+)", NotebookAPI),
    ("/notebooks/([^/]+)/connection", NotebookConnectionAPI),
    ("/aws/credentials", AwsCredentialsAPI),
]


HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _before(method: Any) -> Any:
    """``method`` after the host's ``bodo_before_method`` (Jupyter's forwarding), which
    runs once the body has arrived and may answer the request itself (True)."""

    @functools.wraps(method)
    async def wrapped(self: Any, *args: Any) -> None:
        if await self.bodo_before_method():
            return
        await method(self, *args)

    return wrapped


def make_handlers(base: type, prefix: str = API_PREFIX,
                  extra: dict[str, Any] | None = None) -> list[tuple[str, type, dict[str, Any]]]:
    """Tornado routes with each API mixin combined with ``base`` (the host's auth)."""
    out = []
    for path, mixin in ROUTES:
        methods = {name: _before(getattr(mixin, name)) for name in HTTP_METHODS
                   if hasattr(mixin, name)} if hasattr(base, "bodo_before_method") else {}
        cls = type(mixin.__name__.replace("API", "Handler"), (mixin, base), methods)
        out.append((prefix.rstrip("/") + path + "/?", cls, dict(extra or {})))
    return out
