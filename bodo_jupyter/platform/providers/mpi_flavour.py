"""Whose MPI runs a cluster, and how its launcher is spoken to. Pure.

The environment has one MPI (MPICH, from the ``mpich`` wheel the ``bodo`` wheel
bundles), but local clusters may be pointed at an Open MPI, and the local launcher
and the AWS nodes' bootstrap must both speak whichever it is. So the syntax lives
here once, as an :class:`MPIFlavour`, and both builders ask it: MPICH's hydra takes
``-f host:N`` hostfiles, ``-genv``, ``-launcher ssh`` and ``-prepend-pattern``; Open
MPI takes ``--hostfile`` with ``host slots=N``, ``-x``, ``--map-by``, ``--output
tag`` and ``OMPI_*`` / ``--mca`` parameters. Neither accepts the other's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..jobs.supervise import HYDRA_RANK_PATTERN

MPICH = "mpich"
OPENMPI = "openmpi"
FLAVOURS = (MPICH, OPENMPI)
FLAVOUR_NAMES = {MPICH: "MPICH", OPENMPI: "Open MPI"}


def launcher_flavour(version_text: str) -> str | None:
    """Whose ``mpiexec`` this is, from what ``mpiexec --version`` prints: MPICH's hydra
    (``HYDRA build details``) or Open MPI's (``mpiexec (Open MPI) 5.0.8``, older
    ``OpenRTE``, PRRTE's ``prterun``). None when neither is recognised."""
    text = version_text.lower()
    if "hydra" in text or "mpich" in text:
        return MPICH
    if "open mpi" in text or "openrte" in text or "prrte" in text or "prterun" in text:
        return OPENMPI
    return None


def library_flavour(library_version: str) -> str | None:
    """Whose MPI library mpi4py loaded, from ``MPI.Get_library_version()``
    (``MPICH Version: 5.0.2 ...``, ``Open MPI v5.0.8 ...``). None when unknown."""
    text = library_version.lower()
    if "mpich" in text:
        return MPICH
    if "open mpi" in text:
        return OPENMPI
    return None


@dataclass(frozen=True)
class MPIFlavour:
    """The launcher syntax of one MPI."""

    name: str

    @property
    def display_name(self) -> str:
        return FLAVOUR_NAMES[self.name]

    def hostfile_line(self, host: str, slots: int) -> str:
        """One host of a hostfile with its ranks: hydra ``host:N``, Open MPI
        ``host slots=N``."""
        return f"{host}{self.hostfile_suffix(slots)}"

    def hostfile_suffix(self, slots: int) -> str:
        return f":{slots}" if self.name == MPICH else f" slots={slots}"

    def mpiexec_argv(self, *, mpiexec: str, ranks: int, oversubscribe: bool = False,
                     tag_output: bool = False, hostfile: str | None = None,
                     launcher: str | None = None, env: Mapping[str, str] | None = None,
                     extra: Sequence[str] = ()) -> list[str]:
        """``mpiexec -n N`` in this launcher's syntax.

        ``oversubscribe``: more ranks than cores (Open MPI refuses without being told;
        hydra runs them unasked). ``tag_output``: every line of a rank prefixed with its
        rank (hydra ``-prepend-pattern`` with the supervisor's unambiguous
        :data:`~bodo_jupyter.platform.jobs.supervise.HYDRA_RANK_PATTERN`; Open MPI ``--output tag``:
        ``[1,3]<stdout>: text``). ``hostfile`` / ``launcher``: ranks across machines,
        started over ``launcher`` (ssh). ``env``: set on every rank, on every host
        (hydra ``-genv NAME VALUE``; Open MPI ``-x NAME=VALUE``), which survives a
        ``sudo`` that resets the launcher's own environment.
        """
        if ranks < 1:
            raise ValueError("ranks must be >= 1")
        argv = [mpiexec]
        if self.name == MPICH:
            if hostfile:
                argv += ["-f", hostfile]
            if launcher:
                argv += ["-launcher", launcher]
            argv += ["-n", str(ranks)]
            for k, v in (env or {}).items():
                argv += ["-genv", k, str(v)]
            if tag_output:
                # Not -prepend-rank: its "[3] " is something a rank may print itself.
                argv += ["-prepend-pattern", HYDRA_RANK_PATTERN]
        else:
            argv += ["-n", str(ranks)]
            if hostfile:
                argv += ["--hostfile", hostfile]
            if launcher:
                argv += ["--mca", "plm_rsh_agent", launcher]
            if oversubscribe:
                # More ranks than cores is the normal case for a local cluster; without
                # this Open MPI refuses to start ("not enough slots").
                argv += ["--map-by", ":OVERSUBSCRIBE"]
            for k, v in (env or {}).items():
                argv += ["-x", f"{k}={v}"]
            if tag_output:
                argv += ["--output", "tag"]
        argv.extend(extra)
        return argv

    def launch_env(self, *, as_root: bool,
                   mca: Mapping[str, str] | None = None) -> dict[str, str]:
        """What the launcher itself needs in its environment: Open MPI must be told twice
        that root may run it and takes MCA parameters as ``OMPI_MCA_*``; MPICH needs
        neither."""
        env: dict[str, str] = {}
        if self.name == OPENMPI:
            if as_root:
                env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
                env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            for k, v in (mca or {}).items():
                env[f"OMPI_MCA_{k}"] = str(v)
        return env

    def efa_env(self) -> dict[str, str]:
        """The ranks' environment for EFA networking, which is libfabric's ``efa``
        provider (``FI_PROVIDER=efa``) under either MPI.

        MPICH: the ``mpich`` wheel is built with two ch4 netmods (``ch4:ucx,ofi``, see
        ``MPI.Get_library_version()``) and bundles libfabric with its ``efa`` provider,
        so the ofi netmod is chosen (``MPIR_CVAR_CH4_NETMOD``) and told its provider
        (``MPIR_CVAR_OFI_USE_PROVIDER``); both names are CVARs of that libmpi.
        ``FI_EFA_USE_DEVICE_RDMA=1`` is not set: libfabric aborts with it on EFA devices
        without RDMA read (c5n, c6in), and picks RDMA by itself where there is one.
        Open MPI: its ``cm`` PML over the ``ofi`` MTL, as MCA parameters."""
        if self.name == MPICH:
            return {"FI_PROVIDER": "efa", "MPIR_CVAR_CH4_NETMOD": "ofi",
                    "MPIR_CVAR_OFI_USE_PROVIDER": "efa"}
        return {"FI_PROVIDER": "efa", "OMPI_MCA_pml": "cm", "OMPI_MCA_mtl": "ofi"}


def flavour_of(name: str) -> MPIFlavour:
    """The flavour named ``mpich`` or ``openmpi``; ValueError for anything else."""
    if name not in FLAVOURS:
        raise ValueError(f"unknown MPI flavour {name!r}")
    return MPIFlavour(name)
