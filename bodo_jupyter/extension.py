"""jupyter-server extension: the REST API under the server's own base URL.

With the package installed, ``jupyter lab`` serves ``<base_url>bodo/api/v1``
with the server's authentication. By default the control plane runs inside
the Jupyter server. When one already runs for the same data directory (a
``bodo-jupyter serve``), the extension forwards API calls to it instead, so
that there is still exactly one writer of state.

Kernels and terminals started by this server get ``BODO_JUPYTER_URL`` and
``BODO_JUPYTER_TOKEN``, so ``%bodo attach`` and the ``bodo-jupyter`` CLI find
the API with no set-up.

A server started with ``BODO_JUPYTER_URL`` in its environment -- a platform
notebook's server, which the control plane starts -- runs no control plane at
all: it forwards the API to that URL with ``Authorization: token
$BODO_JUPYTER_TOKEN``.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado import httpclient, web

from .platform.api.base import API_PREFIX, APIMixin
from .platform.api.handlers import make_handlers
from .platform.errors import Forbidden, Unavailable
from .platform.identity import Identity
from .platform.limits import Limits
from .platform.runtime import AlreadyRunning, read_info
from .platform.service import ControlPlane

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "authorization", "cookie", "content-encoding"}


class JupyterAPIBase(APIHandler):
    """Base for API handlers inside Jupyter: the server's auth decides who asks."""

    def identity(self) -> Identity:
        user = self.current_user
        if not user:
            raise Forbidden("not logged in to this Jupyter server")
        action = "read" if self.request.method in ("GET", "HEAD") else "write"
        if not self.authorizer.is_authorized(self, user, action, "bodo"):
            raise Forbidden(f"not allowed to {action} bodo-jupyter resources")
        plane: ControlPlane | None = self.settings["bodo_control_plane"]
        if plane is None or not plane.started:
            off = self.settings.get("bodo_api_off")
            raise Unavailable(off or "the control plane is starting; try again in a moment")
        return plane.local_identity

    async def bodo_before_method(self) -> bool:
        """Called by every API method before it runs, once the body has arrived (bodies
        are streamed, so ``prepare`` is too early to forward one): forward the request
        to the running control plane, if there is one; True when it was."""
        target = self.settings.get("bodo_forward_to")
        if target is not None and self.current_user:
            await self._forward(target)
            return True
        return False

    async def _forward(self, target: dict[str, Any]) -> None:
        """Send this request on to the running control plane and relay its answer."""
        base_api = url_path_join(self.base_url, API_PREFIX)
        rest = self.request.path[len(base_api):] if self.request.path.startswith(base_api) else ""
        url = target["url"].rstrip("/") + rest
        if self.request.query:
            url += "?" + self.request.query
        headers = {k: v for k, v in self.request.headers.get_all()
                   if k.lower() not in HOP_HEADERS}
        headers["Authorization"] = f"token {target['token']}"
        # The streamed body, as the API mixin (first in the MRO) received it.
        body = self.raw_body() if self.request.method in (  # type: ignore[attr-defined]
            "POST", "PUT", "PATCH") else None
        req = httpclient.HTTPRequest(url, method=self.request.method, headers=headers,
                                     body=body, request_timeout=90,
                                     allow_nonstandard_methods=True)
        try:
            resp = await httpclient.AsyncHTTPClient().fetch(req, raise_error=False)
        except OSError as e:
            raise Unavailable(f"the control plane at {target['url']} is not answering: {e}") \
                from None
        if resp.code == 599:
            raise Unavailable(f"the control plane at {target['url']} is not answering")
        self.set_status(resp.code)
        ctype = resp.headers.get("Content-Type")
        if ctype:
            self.set_header("Content-Type", ctype)
        self.finish(resp.body or b"")


class APINotFound(APIMixin, JupyterAPIBase):
    async def get(self, *args: Any) -> None:
        if await self.bodo_before_method():
            return
        self.identity()
        raise web.HTTPError(404, f"no API route {self.request.path}")

    post = put = delete = patch = get


class BodoJupyterExtension(ExtensionApp):
    name = "bodo_jupyter"
    load_other_extensions = True

    classes = [ControlPlane, Limits]

    def initialize_settings(self) -> None:
        self.plane: ControlPlane | None = None
        forward = self.forward_target()
        if forward is None:
            self.plane = ControlPlane(parent=self)
        self.settings.update({"bodo_control_plane": self.plane, "bodo_forward_to": forward})

    @staticmethod
    def forward_target() -> dict[str, Any] | None:
        """The control plane this server forwards to when it was started with
        ``BODO_JUPYTER_URL`` (a platform notebook's server), else None."""
        url = os.environ.get("BODO_JUPYTER_URL")
        if not url:
            return None
        return {"url": url, "token": os.environ.get("BODO_JUPYTER_TOKEN", "")}

    def initialize_handlers(self) -> None:
        for pattern, cls, kwargs in make_handlers(JupyterAPIBase, API_PREFIX):
            self.handlers.append((pattern, cls, kwargs))
        self.handlers.append((API_PREFIX + "/.*", APINotFound))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.plane is None:
            target = self.settings["bodo_forward_to"]
            self.log.info("bodo-jupyter: forwarding the API to the control plane at %s "
                          "(BODO_JUPYTER_URL)", target["url"])
            return
        try:
            await self.plane.start()
        except AlreadyRunning as e:
            info = read_info(self.plane.path)
            if not info:
                reason = f"{e}, but its URL is unknown; stop it or use its API directly"
                self.log.error("bodo-jupyter: %s", reason)
                serverapp.web_app.settings["bodo_api_off"] = reason
                return
            self.log.info("bodo-jupyter: forwarding the API to the control plane at %s",
                          info["url"])
            serverapp.web_app.settings["bodo_forward_to"] = info
        else:
            url = url_path_join(serverapp.connection_url, API_PREFIX)
            self.plane.advertise(url, serverapp.identity_provider.token, "jupyter-server")
            self.log.info("bodo-jupyter control plane in this server; data in %s",
                          self.plane.path)
        self._export_env(serverapp)

    @staticmethod
    def _export_env(serverapp: Any) -> None:
        """Let kernels and terminals of this server find the API."""
        url = url_path_join(serverapp.connection_url, API_PREFIX)
        if "BODO_JUPYTER_URL" not in os.environ:
            os.environ["BODO_JUPYTER_URL"] = url
            os.environ["BODO_JUPYTER_TOKEN"] = serverapp.identity_provider.token or ""

    async def stop_extension(self) -> None:
        if self.plane is not None and self.plane.started:
            await self.plane.stop()
