"""What long work may touch while it runs: steps, progress, and resource records.

Providers and other code that runs inside a task see only :class:`TaskOps`,
not the task engine: a narrow surface that is easy to fake in a pure test
and keeps providers from reaching into the engine's internals.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Step:
    """One planned step of a task, known before it runs (a UI shows what is to come)."""

    name: str
    title: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title}


@dataclass
class ResourceRecord:
    """Something a provider made for a cluster and recorded the moment it existed."""

    id: str
    kind: str
    ref: str
    data: dict[str, Any]


class TaskOps(Protocol):
    """The running task as a provider sees it."""

    #: 1 on the first run, more after a restart or a retry of the same task.
    attempt: int
    #: True when the control plane restarted during this task and it runs again.
    resumed: bool

    def step(self, name: str, message: str = "") -> AbstractAsyncContextManager[Any]:
        """Run one named step, recording when it starts, ends or fails."""
        ...

    def progress(self, fraction: float, message: str) -> None:
        """Progress inside the current step (e.g. 3/4 engines registered)."""
        ...

    def info(self, message: str) -> None: ...

    def event(self, step: str, state: str, message: str = "", fraction: float = 0.0) -> None:
        """An event for a step that runs beside others (a node of a resource graph)."""
        ...

    def check_cancelled(self) -> None:
        """Raise if the user cancelled the task (call between slow operations)."""
        ...

    def record_resource(self, provider: str, kind: str, ref: str,
                        data: dict[str, Any]) -> str:
        """Write down a thing that now exists, before doing anything else with it."""
        ...

    def resources(self, kind: str | None = None) -> list[ResourceRecord]:
        """Live recorded resources of the task's cluster, oldest first."""
        ...

    def forget_resource(self, resource_id: str) -> None:
        """Mark a resource as gone, once it really is."""
        ...
