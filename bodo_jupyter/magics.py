"""``%bodo attach|detach|status``, the ``%%px`` family, ``%ppip`` and ``%psh`` on a cluster.

``%bodo attach NAME`` connects the kernel to the cluster's controller and
activates ipyparallel's own magics (``%px``, ``%%px``, ``%autopx``,
``%pxresult``, ``%pxconfig``) on a blocking view of all ranks, so a ``%%px``
cell costs what ipyparallel itself costs -- and shows every rank's output,
also when it arrives after the result (see :class:`WholeOutput`). Before
attaching (or after detaching) those names answer with a hint instead of
"magic not found". ``%ppip`` and ``%psh`` (:mod:`bodo_jupyter.cluster_tools`) run pip
and shell commands on the attached cluster's engines.
"""

from __future__ import annotations

import shlex
import weakref
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from traitlets import Float, Integer

PX_MAGICS = {"line": ("px", "autopx", "pxresult", "pxconfig"), "cell": ("px",)}

USAGE = """Usage:
  %bodo attach NAME [--timeout SECONDS]   connect to a cluster; enables %px, %%px, %autopx
  %bodo detach                            disconnect
  %bodo status                            the attached cluster and its ranks
  %bodo list                              clusters of your organisation
Once attached: %ppip install PACKAGE (pip for every rank), %psh COMMAND (shell per node)"""

PPIP_USAGE = """Usage (on the attached cluster, once for all its ranks):
  %ppip install PACKAGE ...     into the cluster's packages folder; importable on every rank
  %ppip uninstall PACKAGE ...   out of the packages folder
  %ppip list|show|freeze ...    pip's own, as the engines see their packages"""

PSH_USAGE = """Usage:
  %psh COMMAND                  a shell command on every node of the attached cluster
  %psh --all-ranks COMMAND      on every rank"""


class _State:
    client: Any = None
    view: Any = None
    cluster: Any = None
    platform: Any = None  # one SDK client per kernel, made on first use


state = _State()


def platform() -> Any:
    """The kernel's SDK client (it finds the API through the server's environment)."""
    from .sdk import Platform

    if state.platform is None:
        state.platform = Platform()
    return state.platform


class WholeOutput:
    """A view for ipyparallel's ``%px`` magics whose results come with all their output.

    ``%px`` streams the ranks' output while it waits for the result, then stops
    streaming; an engine's output travels apart from its result, and on a busy
    machine it can arrive after the result, so that a rank's print never showed in
    the cell. Results of this view return from ``get()`` only once every rank's
    output is complete (or ``output_timeout`` seconds passed, e.g. an engine died).
    Everything else is the view's own.
    """

    output_timeout = 10.0

    def __init__(self, view: Any):
        object.__setattr__(self, "_view", view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._view, name, value)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self._view.execute(*args, **kwargs)
        # Weakly: a result that held itself through its own get() would be freed only by
        # the cycle collector, and ipyparallel keeps per-result bookkeeping until then.
        ref = weakref.ref(result)
        plain_get = type(result).get
        timeout = self.output_timeout

        def get(*get_args: Any, **get_kwargs: Any) -> Any:
            res = ref()
            try:
                return plain_get(res, *get_args, **get_kwargs)
            finally:  # also when the cell failed: its output is part of the answer
                if res is not None and res.ready():
                    res.wait_for_output(timeout)

        result.get = get
        return result


@magics_class
class NotAttachedMagics(Magics):
    """Placeholders that explain what to do instead of 'magic not found'."""

    def _hint(self, *args: Any) -> None:
        raise UsageError("not attached to a cluster: run `%bodo attach NAME` first "
                         "(`%bodo list` shows your clusters)")

    @line_cell_magic
    def px(self, line: str = "", cell: str | None = None) -> None:
        self._hint()

    @line_magic
    def autopx(self, line: str = "") -> None:
        self._hint()

    @line_magic
    def pxresult(self, line: str = "") -> None:
        self._hint()

    @line_magic
    def pxconfig(self, line: str = "") -> None:
        self._hint()


def not_attached(magic: str) -> UsageError:
    return UsageError(f"{magic}: not attached to a cluster: run `%bodo attach NAME` first")


@magics_class
class BodoMagics(Magics):
    """The `%bodo`, `%ppip` and `%psh` magics of a kernel (set in its IPython config)."""

    pip_timeout = Float(
        1800.0, config=True,
        help="Seconds %ppip gives pip on the cluster before stopping it.")
    sh_timeout = Float(
        600.0, config=True,
        help="Seconds %psh gives a command on each node before stopping it.")
    tail_lines = Integer(
        25, config=True, help="Last lines of pip's output that a failed %ppip repeats.")

    def _tools(self, magic: str) -> Any:
        from .cluster_tools import ClusterTools

        if state.client is None:
            raise not_attached(magic)
        return ClusterTools(state.client, cluster=state.cluster.name,
                            pip_timeout=self.pip_timeout, sh_timeout=self.sh_timeout,
                            tail_lines=self.tail_lines)

    @line_magic
    def ppip(self, line: str) -> None:
        """pip on the attached cluster: `%ppip install PACKAGE ...` (also uninstall, list,
        show, freeze), once for all its ranks (see bodo_jupyter.cluster_tools)."""
        from .engine_ops import PIP_COMMANDS, PipUsage, pip_argv

        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"{e}\n{PPIP_USAGE}") from None
        if not argv or argv[0] not in PIP_COMMANDS:
            raise UsageError(PPIP_USAGE)
        command, args = argv[0], argv[1:]
        if command != "uninstall":
            try:  # refused options are refused here, before the cluster is asked
                pip_argv("python", command, args, packages="")
            except PipUsage as e:
                raise UsageError(str(e)) from None
        self._tools("%ppip").pip(command, args)

    @line_magic
    def psh(self, line: str) -> None:
        """A shell command on every node of the attached cluster (`--all-ranks`: on every
        rank), as the engines' user, in their working folder and environment."""
        rest = line.strip()
        all_ranks = rest == "--all-ranks" or rest.startswith("--all-ranks ")
        if all_ranks:
            rest = rest[len("--all-ranks"):].strip()
        if not rest:
            raise UsageError(PSH_USAGE)
        self._tools("%psh").sh(rest, all_ranks=all_ranks)

    @line_magic
    def bodo(self, line: str) -> Any:
        try:
            argv = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"{e}\n{USAGE}") from None
        if not argv:
            raise UsageError(USAGE)
        cmd, args = argv[0], argv[1:]
        handler = getattr(self, f"_cmd_{cmd}", None)
        if handler is None:
            raise UsageError(f"unknown subcommand {cmd!r}\n{USAGE}")
        return handler(args)

    def _cmd_attach(self, args: list[str]) -> Any:
        from .sdk import APIError

        if not args or args[0].startswith("-"):
            raise UsageError("usage: %bodo attach NAME [--timeout SECONDS]")
        name, timeout = args[0], 30.0
        if len(args) == 3 and args[1] == "--timeout":
            timeout = float(args[2])
        elif len(args) != 1:
            raise UsageError("usage: %bodo attach NAME [--timeout SECONDS]")
        try:
            cluster = platform().clusters.get(name)
            client = cluster.attach(timeout=timeout)
        except APIError as e:
            raise UsageError(str(e)) from None
        self._detach(quiet=True)
        view = client[:]
        view.block = True
        # ipyparallel's own %px family, on a view whose results wait for every rank's output.
        from ipyparallel.client.magics import ParallelMagics

        self.shell.magics_manager.register(ParallelMagics(self.shell, WholeOutput(view)))
        state.client, state.view, state.cluster = client, view, cluster
        print(f"Attached to cluster {cluster.name}: {len(client.ids)} MPI ranks "
              f"({cluster.instances} x {cluster.instance_type}). "
              "Use %%px to run a cell on every rank.")
        return None

    def _detach(self, quiet: bool = False) -> None:
        if state.client is not None:
            try:
                state.client.close()
            except Exception:
                pass
            if not quiet:
                print(f"Detached from cluster {state.cluster.name}.")
        state.client = state.view = state.cluster = None
        self.shell.register_magics(NotAttachedMagics)

    def _cmd_detach(self, args: list[str]) -> None:
        if state.client is None:
            print("Not attached to a cluster.")
            return
        self._detach()

    def _cmd_status(self, args: list[str]) -> Any:
        if state.client is None:
            print("Not attached to a cluster. Run `%bodo attach NAME`.")
            return None
        c = state.cluster.refresh()
        print(f"Attached to {c.name} ({c.status}): {len(state.client.ids)}/{c.core_count} "
              f"ranks registered, {c.instances} x {c.instance_type} on {c.provider}")
        return None

    def _cmd_list(self, args: list[str]) -> None:
        from .sdk import APIError

        try:
            clusters = platform().clusters.list()
        except APIError as e:
            raise UsageError(str(e)) from None
        if not clusters:
            print("No clusters. Create one with `bodo-jupyter cluster create`.")
        for c in clusters:
            print(f"{c.name:24} {c.status:11} {c.instances} x {c.instance_type} "
                  f"({c.core_count} ranks)")


def load_ipython_extension(ip: Any) -> None:
    ip.register_magics(BodoMagics)
    if state.client is None:
        ip.register_magics(NotAttachedMagics)


def unload_ipython_extension(ip: Any) -> None:
    if state.client is not None:
        state.client.close()
        state.client = state.view = state.cluster = None
