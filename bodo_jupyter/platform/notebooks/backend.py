"""What running notebooks on a provider's nodes takes.

A notebook is a Jupyter server on a node of its own (it runs the notebook and
its kernels, not cluster work). A provider whose machines can host notebooks
offers a backend under the ``bodo_jupyter.notebook_backends`` entry point,
named like the provider; the local one is
:class:`bodo_jupyter.platform.providers.local_notebooks.LocalNotebooks`.

The contract that keeps the platform leak-free, as for clusters: ``start``
hands the server's handle to ``record`` the moment the server exists (before
anything else), ``prepare`` stops whatever an interrupted earlier attempt left,
and ``stop`` is idempotent and finds the server's processes (its kernels too)
even when the handle was never recorded.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from traitlets.config import LoggingConfigurable

from ..progress import TaskOps
from ..providers.base import ClusterProvider, InstanceType

ENTRY_POINT_GROUP = "bodo_jupyter.notebook_backends"


@dataclass
class NotebookSpec:
    """A notebook as a backend sees it."""

    id: str
    org_id: str
    name: str
    instance_type: str
    #: The cluster its kernels attach to (it holds the cluster), or None.
    cluster_id: str | None = None
    cluster_name: str | None = None
    #: What ``start`` recorded (handle, URL); empty before the first start.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerLaunch:
    """What the control plane gives a notebook's server. Secrets: never log it."""

    #: The server's own token (standalone); None behind a hub.
    token: str | None
    #: A hub spawner's environment for the server (``JUPYTERHUB_*``, ``JPY_*``); with
    #: it the server runs as a JupyterHub single-user server.
    server_env: dict[str, str]
    #: Where kernels reach the control plane's API (``BODO_JUPYTER_URL``), and with
    #: which token (``BODO_JUPYTER_TOKEN``); None when the control plane does not know.
    api_url: str | None
    api_token: str | None

    @property
    def hub(self) -> bool:
        return bool(self.server_env)

    def __repr__(self) -> str:  # never the token or the hub's environment
        return (f"ServerLaunch(hub={self.hub}, api_url={self.api_url!r}, "
                f"server_env={sorted(self.server_env)})")


class NotebookBackend(LoggingConfigurable):
    """Runs notebooks' servers on the nodes of one provider."""

    def __init__(self, provider: ClusterProvider, **kwargs: Any):
        super().__init__(**kwargs)
        self.provider = provider

    @abstractmethod
    def instance_types(self) -> list[InstanceType]:
        """The node shapes a notebook may have."""

    def check_create(self, org_id: str, cluster_id: str | None) -> None:
        """Refuse a notebook this backend cannot make (a BadRequest naming the field),
        before anything is written. Default: anything goes."""

    @abstractmethod
    async def prepare(self, spec: NotebookSpec) -> None:
        """Request the node: folders, the organisation's user, and nothing left of an
        earlier attempt (a resumed create starts clean)."""

    @abstractmethod
    async def start(self, spec: NotebookSpec, launch: ServerLaunch,
                    record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Start the server; ``record(details)`` as soon as it exists. Returns the details
        (plain JSON, kept in the database): at least ``url``, the server's base URL."""

    @abstractmethod
    async def wait_ready(self, spec: NotebookSpec, details: dict[str, Any],
                         ops: TaskOps) -> None:
        """Probe the server over HTTP until it answers (ProvisionError with the last
        lines of its log when it dies or the time is up)."""

    @abstractmethod
    async def stop(self, spec: NotebookSpec, details: dict[str, Any]) -> None:
        """Stop the server and everything it started (kernels); idempotent."""

    @abstractmethod
    async def check(self, spec: NotebookSpec, details: dict[str, Any]) -> str | None:
        """Why a RUNNING notebook's server is not running any more, or None."""

    @abstractmethod
    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        """Stop servers of notebooks that are not live; returns their ids."""


def notebook_backend_classes() -> dict[str, type[NotebookBackend]]:
    """Notebook backends installed in this environment, by provider name."""
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
