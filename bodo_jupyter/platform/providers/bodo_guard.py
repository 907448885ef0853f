"""Bodo's spawn mode refused on a cluster's engines: a clear error, never a hang.

A cluster's engines are already Bodo's workers: every rank runs the ``%%px`` cell and
Bodo runs SPMD (the platform sets ``BODO_SPAWN_MODE=0``). Spawn mode
(``@bodo.jit(spawn=True)``, or ``BODO_SPAWN_MODE=1`` set before ``import bodo``) would
have every engine ``MPI_Comm_spawn`` workers of its own: on a cluster that kills the
engines or hangs them (issue 9). So the engines start with :func:`install`, which makes
creating Bodo's spawner raise :class:`SpawnModeRefused` -- on each rank at once, before
any collective call, so the cell fails with the message and the cluster lives on.

Standard library only: it runs inside every engine (``IPEngine.startup_command``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path
from typing import Any

SPAWNER = "bodo.spawn.spawner"
MESSAGE = (
    "Bodo's spawn mode is off on bodo-jupyter clusters: every MPI rank of the cluster "
    "already runs this cell, and Bodo runs SPMD on them (BODO_SPAWN_MODE=0). Drop "
    "spawn=True from @bodo.jit (and do not set BODO_SPAWN_MODE=1); the jit function then "
    "runs on all ranks, each on its part of the data. To use spawn mode, run Bodo in a "
    "notebook that is not attached to a cluster.")


#: What every process of a cluster gets, on every provider: Bodo runs SPMD on the ranks.
SPMD_ENV = {"BODO_SPAWN_MODE": "0"}


class SpawnModeRefused(RuntimeError):
    """Bodo tried to spawn workers on a cluster's engine."""


def _refuse(*_args: Any, **_kwargs: Any) -> None:
    raise SpawnModeRefused(MESSAGE)


def patch(module: Any) -> None:
    """Bodo's spawner module, made to refuse: its Spawner cannot be created."""
    module.Spawner.__init__ = _refuse


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)  # type: ignore[attr-defined]
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds bodo's spawner as the other finders would, and patches it once loaded."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != SPAWNER:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    """Refuse spawn mode in this process, whether bodo is imported yet or later."""
    if SPAWNER in sys.modules:
        patch(sys.modules[SPAWNER])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


#: What engines run at start (IPEngine.startup_command): nothing left in the namespace.
STARTUP_COMMAND = f"__import__({__name__!r}, fromlist=['install']).install()"

#: This module's own source: nodes that do not carry bodo-jupyter get a copy of it.
SOURCE = Path(__file__)


def startup_command_from(folder: str, module: str) -> str:
    """The startup command of engines that load this module as ``module`` from a copy in
    ``folder`` (an AWS node's image need not carry bodo-jupyter). The folder goes last on
    sys.path, so it shadows nothing of the user's."""
    return (f"__import__('sys').path.append({folder!r}) or "
            f"__import__({module!r}).install()")
