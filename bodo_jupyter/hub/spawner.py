"""BodoSpawner: the hub's named servers are the organisation's notebooks.

A thin client of the platform: the control plane owns notebooks (a node, a lease on a
cluster, readiness probes, the task with its steps), whichever front end asks -- the
CLI, the SDK, or this spawner on behalf of a hub user. The spawner turns the hub's
calls into API calls as that user:

* ``options_form``: the contract's NOTEBOOK_CREATE form, its choices read live (the
  instance types, the organisation's RUNNING clusters nobody holds);
* ``start``: ``POST /notebooks`` with the server's hub environment (write-only: the
  server's hub token is in it), then the create task until it ends;
* ``progress``: that task's steps, as the hub's spawn page shows them;
* ``poll``: the notebook's status; ``stop``: ``DELETE /notebooks/{id}`` (node and lease
  freed); ``get_state``/``load_state``: the notebook's id, so a restarted hub finds it.

Where the node runs (a local process as the organisation's OS user, or an EC2
instance) is the platform's notebook backend, chosen by the instance type.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from jupyterhub.spawner import Spawner
from traitlets import Float, Unicode, default

from bodo_jupyter.contract.forms import NOTEBOOK_CREATE
from bodo_jupyter.contract.runtime import ContractError
from bodo_jupyter.sdk.client import AsyncPlatform, Task
from bodo_jupyter.sdk.errors import APIError

from .options_form import Choice, form_values, render

#: What of the hub's environment for a server reaches the platform: JupyterHub's own
#: variables (the server's token among them), nothing of the hub's process.
HUB_ENV = re.compile(r"^(JUPYTERHUB|JPY)_[A-Z0-9_]+$")
SERVICE_SCOPE = "access:services!service={}"


def notebook_name(user: str, server: str) -> str:
    """A default notebook name from the hub's user and server names: lowercase letters,
    digits and hyphens, as cluster names (``ada@acme.com`` + ``""`` -> ``ada``)."""
    base = user.split("@", 1)[0]
    raw = f"{base}-{server}" if server else base
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    return (name or "notebook")[:40].rstrip("-")


class SpawnError(Exception):
    """Shown on the hub's spawn page: one sentence, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.jupyterhub_message = message
        self.jupyterhub_html_message = None


class BodoSpawner(Spawner):
    """A notebook of the platform for each of the hub's (named) servers."""

    service_name = Unicode(
        "bodo", config=True, help="The name of the hub service the control plane runs as.")
    platform_url = Unicode(
        config=True,
        help="The platform's API as the hub reaches it. Default: the URL of the hub "
        "service named service_name, + /services/<name>/api/v1.",
    )

    @default("platform_url")
    def _default_platform_url(self) -> str:
        from jupyterhub.app import JupyterHub

        if JupyterHub.initialized():
            for svc in JupyterHub.instance().services:
                if svc.get("name") == self.service_name and svc.get("url"):
                    return f"{svc['url'].rstrip('/')}/services/{self.service_name}/api/v1"
        raise ValueError(f"BodoSpawner: no hub service {self.service_name!r} with a url; "
                         "set BodoSpawner.platform_url")

    default_instance_type = Unicode(
        "", config=True,
        help="The instance type preselected on the options page (default: the first offered).")
    token_lifetime = Float(
        3600.0, config=True,
        help="Seconds the spawner's own token (for its API calls as the user) lives; a new "
        "one is made in memory before it ends, never stored.")

    @default("server_token_scopes")
    def _default_server_token_scopes(self) -> list[str]:
        # The hub's defaults plus the platform: kernels and the server's API forwarding
        # reach the control plane with the server's own token.
        return ["users:activity!user", "access:servers!server",
                SERVICE_SCOPE.format(self.service_name)]

    @default("start_timeout")
    def _default_start_timeout(self) -> int:
        return 300

    @default("http_timeout")
    def _default_http_timeout(self) -> int:
        return 120

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notebook_id = ""
        self.task_id = ""
        self._task_known = asyncio.Event()
        self._token = ("", 0.0)

    # -- talking to the platform as the user -------------------------------------------

    def _user_token(self) -> str:
        """A short-lived token of the user for the platform only, made by the hub in
        memory: the spawner acts as the user, also after a hub restart (when the server's
        token is no longer known), and never stores a token."""
        token, expires = self._token
        if token and time.monotonic() < expires - 60:
            return token
        token = self.user.new_api_token(
            note=f"bodo-jupyter spawner of {self._log_name}",
            scopes=[SERVICE_SCOPE.format(self.service_name)],
            expires_in=int(self.token_lifetime))
        self._token = (token, time.monotonic() + self.token_lifetime)
        return token

    def platform(self) -> AsyncPlatform:
        return AsyncPlatform(self.platform_url, self._user_token(), timeout=60.0)

    # -- the options page --------------------------------------------------------------

    async def _choices(self, p: AsyncPlatform) -> dict[str, list[Choice]]:
        types = await p.request("GET", "/notebook-instance-types")
        clusters = await p.request("GET", "/clusters", params={"status": "RUNNING",
                                                               "limit": 500})
        free = [c for c in clusters["items"] if not c.get("holder")]
        return {
            "notebook_instance_types": [
                (t["name"], f"{t['name']} ({t['cores']} cores, {t['memory_gib']:g} GiB)")
                for t in types["items"]],
            "free_clusters": [(c["name"], f"{c['name']} ({c['core_count']} cores)")
                              for c in free],
        }

    @default("options_form")
    def _default_options_form(self) -> Any:
        return BodoSpawner._options_form

    @staticmethod
    async def _options_form(spawner: BodoSpawner) -> str:
        values = {"name": notebook_name(spawner.user.name, spawner.name),
                  "instance_type": spawner.default_instance_type or None}
        try:
            async with spawner.platform() as p:
                choices = await spawner._choices(p)
        except APIError as e:
            return render(NOTEBOOK_CREATE, {}, values,
                          notice=f"The platform did not answer: {e.message}")
        notice = "" if choices["free_clusters"] else (
            "No RUNNING cluster is free: the notebook starts without one (attach it later "
            "with %bodo attach), or create a cluster first.")
        return render(NOTEBOOK_CREATE, choices, values, notice=notice)

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return form_values(NOTEBOOK_CREATE, formdata)

    # -- lifecycle ---------------------------------------------------------------------

    def _request(self) -> dict[str, Any]:
        """The create request from the user's options (the hub API can send anything:
        the contract checks it here, the platform again)."""
        options = dict(self.user_options or {})
        known = [f.name for f in NOTEBOOK_CREATE.fields]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise SpawnError(f"unknown option {unknown[0]!r}; the options are "
                             f"{', '.join(known)}")
        values = {"name": notebook_name(self.user.name, self.name),
                  **{k: v for k, v in options.items() if v not in (None, "")}}
        if not values.get("instance_type") and self.default_instance_type:
            values["instance_type"] = self.default_instance_type
        try:
            req = NOTEBOOK_CREATE.build(values)
        except ContractError as e:
            field = NOTEBOOK_CREATE.field_for(e.field)
            label = field.label if field else e.field
            raise SpawnError(f"{label}: {e.message}") from None
        body = req.to_dict()
        body["server_env"] = {k: v for k, v in self.get_env().items() if HUB_ENV.match(k)}
        return body

    async def start(self) -> str:
        body = self._request()
        self._task_known.clear()
        async with self.platform() as p:
            try:
                out = await p.request("POST", "/notebooks", body)
            except APIError as e:
                field = NOTEBOOK_CREATE.field_for(e.field)
                raise SpawnError(f"{field.label}: {e.message}" if field else e.message) \
                    from None
            self.notebook_id = out["notebook"]["id"]
            self.task_id = out["task"]["id"]
            self._task_known.set()
            task = Task(p, out["task"])
            await task.wait(raise_on_error=False)
            if task.status != "FINISHED":
                raise SpawnError(f"notebook {out['notebook']['name']!r} did not start: "
                                 f"{task.data.error or task.status}")
            conn = await p.request("GET", f"/notebooks/{quote(self.notebook_id)}/connection")
        return str(conn["url"])

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """The create task's events, as they happen (from the first, so a reloaded spawn
        page shows them all)."""
        await self._task_known.wait()
        async with self.platform() as p:
            task = Task(p, {"id": self.task_id})
            async for ev in task.follow():
                yield {"progress": round(ev.progress * 100),
                       "message": f"{ev.step}: {ev.message}"}

    async def poll(self) -> int | None:
        if not self.notebook_id:
            return 0
        try:
            async with self.platform() as p:
                nb = await p.request("GET", f"/notebooks/{quote(self.notebook_id)}")
        except APIError as e:
            if e.status == 404:
                return 0
            # The platform is down or busy: say nothing changed rather than have the hub
            # drop a server that may be running fine.
            self.log.warning("%s: cannot read notebook %s: %s", self._log_name,
                             self.notebook_id, e.message)
            return None
        if nb["status"] in ("NEW", "INPROGRESS", "RUNNING"):
            return None
        return 1 if nb["status"] == "FAILED" else 0

    async def stop(self, now: bool = False) -> None:
        if not self.notebook_id:
            return
        async with self.platform() as p:
            try:
                out = await p.request("DELETE", f"/notebooks/{quote(self.notebook_id)}")
            except APIError as e:
                if e.status == 404:
                    return
                raise
            await Task(p, out["task"]).wait(raise_on_error=False)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.notebook_id:
            state["notebook_id"] = self.notebook_id
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.notebook_id = state.get("notebook_id", "")

    def clear_state(self) -> None:
        super().clear_state()
        self.notebook_id = ""
        self.task_id = ""
