"""What running jobs on a provider's clusters takes.

A job runs as ``mpiexec -n <CORE_COUNT> python <command>`` on a cluster, under
a supervisor process that owns the run's log and exit code, so the run does
not depend on the control plane's own process. A provider whose clusters can
run jobs offers a backend under the ``bodo_jupyter.job_backends`` entry point,
named like the provider; the local one is in
``bodo_jupyter.platform.providers.local_jobs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..providers.base import ClusterProvider, ClusterSpec
from ..run_as import RunAs

ENTRY_POINT_GROUP = "bodo_jupyter.job_backends"


class JobBackend(ABC):
    """Runs jobs on the clusters of one provider."""

    def __init__(self, provider: ClusterProvider):
        self.provider = provider

    @abstractmethod
    def workspace(self, spec: ClusterSpec, run_id: str) -> Path:
        """The run's folder, the organisation's, visible to every node of the cluster:
        its source goes in ``src``."""

    @abstractmethod
    def run_dir(self, spec: ClusterSpec, run_id: str) -> Path:
        """The platform's own folder for a run (its exit code), out of the job's reach."""

    @abstractmethod
    async def prepare(self, spec: ClusterSpec, run_id: str) -> RunAs | None:
        """Make the run's folders; returns the OS user that fetches its source (None: the
        control plane's own)."""

    @abstractmethod
    async def remove(self, spec: ClusterSpec, run_id: str) -> None:
        """Remove the run's folders (after it ended); idempotent."""

    @abstractmethod
    def command(self, spec: ClusterSpec, args: list[str]) -> list[str]:
        """The full argv of a job: ``mpiexec -n <CORE_COUNT> ... python <args>``."""

    @abstractmethod
    async def start(self, spec: ClusterSpec, args: list[str], *, cwd: Path,
                    env: dict[str, str], log_path: Path, exit_path: Path,
                    run_id: str) -> dict[str, Any]:
        """Start the job under a supervisor; returns the handle ``wait`` needs later
        (kept in the database, so it must be plain JSON). ``env`` holds the job's own
        variables only: the backend builds the rest, never from the control plane's
        environment."""

    @abstractmethod
    async def wait(self, handle: dict[str, Any], exit_path: Path,
                   timeout: float) -> int | None:
        """Wait up to ``timeout`` s; the job's exit code once it ended, else None.

        Raises ProvisionError when it is neither running nor has an exit code
        (its supervisor died).
        """

    @abstractmethod
    async def stop(self, handle: dict[str, Any]) -> None:
        """Stop a running job (TERM, then KILL) and everything it started."""


def job_backend_classes() -> dict[str, type[JobBackend]]:
    """Job backends installed in this environment, by provider name."""
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}
