"""Bodo's spawn mode refused on a cluster's engines: a clear error, never a hang.

A cluster's engines are already Bodo's workers: every rank runs the ``%%px`` cell and
Bodo runs SPMD (the platform sets ``BODO_SPAWN_MODE=0``). Spawn mode
(``@bodo.jit(spawn=True)``, or ``BODO_SPAWN_MODE=1`` set before ``import bodo``) would
have every engine ``MPI_Comm_spawn`` workers of its own: on a cluster that kills the
engines or hangs them (issue 9). So the engines start with :func:`install`, which makes
creating Bodo's spawner raise :class:`SpawnModeRefused` -- on each rank at once, before
any collective call, so the cell fails with the message and the cluster lives on.

Standard library only: it runs inside every engine (``IPEngine.startup_command``), and
a copy of this very file runs in every process of a cluster -- engines and each rank of
a job -- from the platform's site folder (:func:`site_files`), before any user code.
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
    "already runs this code (the %%px cell, or the job's script), and Bodo runs SPMD on "
    "them (BODO_SPAWN_MODE=0). Drop "
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
    """Finds bodo's spawner as the other finders would, and patches it once loaded.

    A process may hold two of these (the site folder's copy and the engines'
    ``startup_command``, possibly of two versions): each skips the others, and a
    lookup that comes back to one while it asks the other finders is left to them."""

    bodo_jupyter_spawn_guard = True

    def __init__(self) -> None:
        self.busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != SPAWNER or self.busy:
            return None
        self.busy = True
        try:
            for finder in list(sys.meta_path):
                if finder is self or getattr(finder, "bodo_jupyter_spawn_guard", False) \
                        or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None and spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                    return spec
            return None
        finally:
            self.busy = False


def install() -> None:
    """Refuse spawn mode in this process, whether bodo is imported yet or later."""
    if SPAWNER in sys.modules:
        patch(sys.modules[SPAWNER])
    if not any(getattr(f, "bodo_jupyter_spawn_guard", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


#: What engines run at start (IPEngine.startup_command): nothing left in the namespace.
STARTUP_COMMAND = f"__import__({__name__!r}, fromlist=['install']).install()"


#: The guard's name in the site folder: no package of a user's can be imported instead
#: (the site folder comes first on PYTHONPATH and the guard is loaded by its file).
SITE_MODULE = "_bodo_jupyter_guard"

SITECUSTOMIZE = f'''"""Written by bodo-jupyter, do not edit: Bodo's spawn mode refused in
this cluster's processes (engines and every rank of a job) before any user code runs.

This folder is the platform's (not writable by the organisation's OS user) and comes
first on PYTHONPATH, before the cluster's packages folder and a job's own PYTHONPATH;
the guard is loaded from its file beside this one, and the job's own folder joins
sys.path only after site ran, so no package or job file takes the guard's place. A
sitecustomize this one hides (later on sys.path) runs after it."""
import importlib.machinery as _machinery
import importlib.util as _util
import os as _os
import sys as _sys

_here = _os.path.dirname(_os.path.abspath(__file__))
_spec = _util.spec_from_file_location("{SITE_MODULE}", _os.path.join(_here, "{SITE_MODULE}.py"))
_guard = _util.module_from_spec(_spec)
_sys.modules["{SITE_MODULE}"] = _guard
_spec.loader.exec_module(_guard)
_guard.install()

_next = _machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in _sys.path if _os.path.abspath(p or ".") != _here])
if _next is not None and _next.loader is not None:
    _next.loader.exec_module(_util.module_from_spec(_next))
'''


def site_files() -> dict[str, str]:
    """The platform's site folder: file name -> text (this module, and the
    ``sitecustomize`` that installs it at the start of every Python process)."""
    return {f"{SITE_MODULE}.py": Path(__file__).read_text(), "sitecustomize.py": SITECUSTOMIZE}
