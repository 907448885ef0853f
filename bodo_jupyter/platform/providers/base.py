"""What a cluster provider must do.

A provider turns a cluster spec into running MPI engines behind an
ipyparallel controller, and back into nothing. Providers are traitlets
Configurables registered under the ``bodo_jupyter.providers`` entry point, so
an admin can add one without touching this package.

The contract that keeps the platform leak-free:

* ``provision`` records every thing it makes through ``ops.record_resource``
  the moment it exists, and may be called again for the same cluster after a
  restart: it must converge, never duplicate.
* ``teardown`` removes every recorded resource, is idempotent, and only
  forgets a resource once it is really gone.

Providers see the running task only through the narrow :class:`TaskOps`
protocol. Running jobs on a provider's clusters is a separate role
(:class:`bodo_jupyter.platform.jobs.backend.JobBackend`), so a provider that
cannot run jobs yet has nothing job-shaped to pretend with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets import Integer
from traitlets.config import LoggingConfigurable

from bodo_jupyter.contract.models import StepName

from ..progress import ResourceRecord, Step, TaskOps
from . import bodo_versions

if TYPE_CHECKING:
    from ..identity import Identity

ENTRY_POINT_GROUP = "bodo_jupyter.providers"


@dataclass(frozen=True)
class InstanceType:
    """A node shape: what the instance-type dropdown lists."""

    name: str
    cores: int
    vcpus: int
    memory_gib: float
    efa: bool = False
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ClusterSpec:
    """The cluster as a provider sees it: no ORM objects cross this line."""

    id: str
    org_id: str
    name: str
    instance_type: InstanceType
    instances: int
    efa: bool
    details: dict[str, Any] = field(default_factory=dict)
    #: The Bodo the cluster runs (one of its provider's ``bodo_versions()``), or None.
    bodo_version: str | None = None
    #: The provider's live resources for this cluster (filled in for ``check``).
    resources: list[ResourceRecord] = field(default_factory=list)

    @property
    def core_count(self) -> int:
        return self.instances * self.instance_type.cores


class ClusterProvider(LoggingConfigurable):
    """Base class of cluster providers (local MPI, AWS, ...)."""

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""

    max_instances = Integer(
        16, config=True, help="Largest number of instances one cluster may have."
    )

    def __init__(self, *, data_dir: Path, plane_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        #: Where this provider may keep files (per-cluster folders, logs).
        self.data_dir = Path(data_dir)
        #: Tags everything this control plane makes, so that two control planes
        #: on one machine never touch each other's resources.
        self.plane_id = plane_id

    def attach(self, host: Any) -> None:
        """Hook for providers that add task handlers to the control plane (``host`` has
        ``store``, ``secrets`` and ``engine``)."""

    def create_steps(self, spec: ClusterSpec) -> list[Step]:
        return [Step(StepName.PROVISION, "Provisioning")]

    def delete_steps(self, spec: ClusterSpec) -> list[Step]:
        return [Step(StepName.TEARDOWN, "Removing resources")]

    async def instance_types(self, identity: Identity) -> list[InstanceType]:
        raise NotImplementedError

    def known_types(self) -> list[InstanceType]:
        """Instance types known without asking anyone (config); may be empty."""
        return []

    def bodo_versions(self) -> list[str]:
        """The Bodo versions a cluster here may run, newest first (the first is the
        default); empty when clusters here run without Bodo."""
        return []

    def choose_bodo_version(self, requested: str | None,
                            field: str = "bodo_version") -> str | None:
        """The Bodo version of a new cluster: ``requested`` when offered, else the newest
        offered; a 400 on ``field`` when it is not offered."""
        return bodo_versions.choose(requested, self.bodo_versions(), provider=self.name,
                                    field=field)

    async def check_ready(self, identity: Identity) -> None:
        """Raise a 4xx when this organisation cannot create clusters here yet."""

    async def provision(self, spec: ClusterSpec, ops: TaskOps) -> dict[str, Any]:
        """Make the cluster and wait until every engine answers; returns details."""
        raise NotImplementedError

    async def teardown(self, spec: ClusterSpec, ops: TaskOps, *,
                       keep_logs: bool = False) -> None:
        """Remove everything; ``keep_logs`` after a failed create, so users can read why."""
        raise NotImplementedError

    async def connection_info(self, spec: ClusterSpec) -> dict[str, Any]:
        """The ipyparallel client connection dict for attaching to the cluster."""
        raise NotImplementedError

    async def check(self, spec: ClusterSpec) -> str | None:
        """None when the cluster is healthy, else why it is not."""
        return None

    def region(self, spec: ClusterSpec) -> str | None:
        """The AWS region the cluster is in (S3 job sources must be there too)."""
        return None

    async def sweep_orphans(self, is_live: Callable[[str], bool]) -> list[str]:
        """Remove tagged resources of clusters that no longer exist; returns their ids.

        ``is_live`` is asked after the scan, right before removing anything, so
        a cluster created while the scan ran is never mistaken for an orphan.
        """
        return []

    async def close(self) -> None:
        """Release what the provider holds in this process (not the clusters)."""


def provider_classes() -> dict[str, type[ClusterProvider]]:
    """Providers installed in this environment, by name."""
    found: dict[str, type[ClusterProvider]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        found[ep.name] = cls
    return found
