"""``bodo-jupyter serve``: the control plane and its API as a process.

Configuration comes from ``bodo_jupyter_config.py`` (searched in Jupyter's
config path and the current folder, or given with ``--config``), so every
trait -- ``ControlPlane.data_dir``, ``LocalProvider.instance_types_config``,
``Store.db_url`` ... -- is set the way Jupyter users already know.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from typing import Any
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_config_path
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets import Bool, Integer, List, Unicode, default
from traitlets.config import Application

from .api.server import make_app
from .files import write_private
from .limits import Limits
from .process_guard import make_undumpable
from .runtime import AlreadyRunning
from .service import ControlPlane
from .store import Store
from .tasks import TaskEngine


class ServeApp(Application):
    name = "bodo-jupyter-serve"
    description = "Run the bodo-jupyter control plane and its REST API."

    ip = Unicode("127.0.0.1", config=True, help="Interface to listen on.")
    port = Integer(8765, config=True, help="Port to listen on (0: pick a free one).")
    token = Unicode(
        config=True,
        help="API token clients must send. Default: $BODO_JUPYTER_TOKEN, else a random one "
        "written to the runtime file (mode 0600) for local clients.",
    )

    @default("token")
    def _default_token(self) -> str:
        return os.environ.get("BODO_JUPYTER_TOKEN") or secrets.token_urlsafe(32)

    config_file = Unicode("", config=True, help="A bodo_jupyter_config.py to load.")
    hub_service = Bool(
        config=True,
        help="Run as a JupyterHub-managed service: users authenticate with the hub (a hub "
        "token or the hub's OAuth), each in the organisation their hub groups name; the "
        "API is at <service prefix>api/v1 and the platform's page at the prefix. Default: "
        "on when started by a hub ($JUPYTERHUB_SERVICE_PREFIX and $JUPYTERHUB_API_TOKEN set).",
    )

    @default("hub_service")
    def _default_hub_service(self) -> bool:
        return bool(os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
                    and os.environ.get("JUPYTERHUB_API_TOKEN"))

    protect_process = Bool(
        True, config=True,
        help="Mark the process not dumpable (Linux prctl PR_SET_DUMPABLE), so that "
        "processes of the same OS user -- user code on an install without root -- cannot "
        "read its /proc/<pid>/environ or memory, which hold the platform's own keys.",
    )
    classes = List([ControlPlane, Store, TaskEngine, Limits])

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        from .providers.base import provider_classes

        self.classes = [*self.classes, *provider_classes().values()]
        self.plane: ControlPlane | None = None
        self.server: HTTPServer | None = None
        self.url = ""

    def load_config(self) -> None:
        paths = [*jupyter_config_path(), os.getcwd()]
        self.load_config_file("bodo_jupyter_config", path=paths)
        if self.config_file:
            d, f = os.path.split(os.path.abspath(self.config_file))
            self.load_config_file(f, path=[d])

    async def start_async(self) -> None:
        if self.hub_service:
            self.config.ControlPlane.single_user = False
        self.plane = ControlPlane(parent=self)
        await self.plane.start()
        if self.hub_service:
            await self._start_hub_service()
            return
        app = make_app(self.plane, self.token)
        self.server = HTTPServer(app, xheaders=False)
        sockets = bind_sockets(self.port, self.ip)
        self.server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        host = self.ip if self.ip not in ("0.0.0.0", "") else "127.0.0.1"
        self.url = f"http://{host}:{port}/bodo/api/v1"
        self.plane.advertise(self.url, self.token, "standalone")
        self.log.info("bodo-jupyter API at %s", self.url)

    async def _start_hub_service(self) -> None:
        """Serve where the hub said ($JUPYTERHUB_SERVICE_URL), under its prefix."""
        from jupyterhub.services.auth import HubOAuth

        from .api.hub_service import HubIdentities, make_hub_app

        assert self.plane is not None
        hub_auth = HubOAuth.instance(parent=self)
        identities = HubIdentities(self.plane, hub_auth, parent=self)
        service_url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL", ""))
        host = service_url.hostname or self.ip
        port = service_url.port or self.port
        app = make_hub_app(self.plane, hub_auth, identities,
                           cookie_secret=self._cookie_secret(),
                           base_url=os.environ.get("JUPYTERHUB_BASE_URL", "/"))
        self.server = HTTPServer(app, xheaders=True)
        sockets = bind_sockets(port, host)
        self.server.add_sockets(sockets)
        bound = sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound}{hub_auth.base_url}api/v1"
        # Local clients find the API here; they authenticate with their own hub token.
        self.plane.advertise(self.url, "", "hub-service")
        self.log.info("bodo-jupyter hub service: API at %s", self.url)

    def _cookie_secret(self) -> bytes:
        """The key of the service's OAuth cookies, kept (0600) so a restart logs no one
        out."""
        assert self.plane is not None
        path = self.plane.path / "hub-cookie-secret"
        if path.exists():
            return path.read_text().strip().encode()
        secret = secrets.token_hex(32)
        write_private(path, secret)
        return secret.encode()

    async def stop_async(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.plane is not None:
            await self.plane.stop()

    async def run_forever(self) -> None:
        if self.protect_process and not make_undumpable():
            self.log.warning("could not mark the control plane not dumpable: processes of "
                             "its OS user can read its environment")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start_async()
        print(f"bodo-jupyter control plane listening at {self.url}", flush=True)
        print(f"data directory: {self.plane.path if self.plane else ''}", flush=True)
        try:
            await stop.wait()
        finally:
            await self.stop_async()


def serve(*, config_file: str = "", data_dir: str | None = None,
          **options: Any) -> None:
    """Run until SIGINT/SIGTERM. ``options`` (ip, port, token) beat config files."""
    app = ServeApp()
    if config_file:
        app.config_file = config_file
    app.load_config()
    if data_dir:
        app.config.ControlPlane.data_dir = data_dir
    for k, v in options.items():
        if v is not None:
            setattr(app, k, v)
    try:
        asyncio.run(app.run_forever())
    except AlreadyRunning as e:
        raise SystemExit(f"error: {e}") from None
