"""``%ppip`` and ``%psh``: pip and shell commands on the cluster a kernel is attached to.

The kernel's side of the magics: which engines run what (pure: :func:`one_per_host`,
:func:`engine_call`), an engine's output streamed into the cell as it comes, and what
happened reported per node or rank. What the engines run is
:mod:`bodo_jupyter.engine_ops`; they run it as themselves -- the organisation's OS user,
in their working folder and environment (which holds no platform secret).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .engine_ops import rank_ranges

#: The functions of :mod:`bodo_jupyter.engine_ops` that engines are asked to run.
ENGINE_FUNCTIONS = ("describe", "pip", "refresh", "sh")


class ClusterCommandError(RuntimeError):
    """A ``%ppip`` or ``%psh`` that failed on the cluster. IPython shows its message
    alone (``_render_traceback_``): what failed where, never the platform's traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


_SOURCE: str | None = None


def engine_call(function: str, **kwargs: Any) -> str:
    """The expression an engine evaluates (``view.apply(eval, expr, {})``): the source of
    :mod:`bodo_jupyter.engine_ops` run in a fresh namespace, then one of its functions
    called with ``kwargs`` (plain values: their ``repr`` is their source)."""
    global _SOURCE
    if function not in ENGINE_FUNCTIONS:
        raise ValueError(f"engine_ops has no engine function {function!r}")
    if _SOURCE is None:
        _SOURCE = Path(inspect.getfile(rank_ranges)).read_text()
    return (f"(lambda ns: (exec(compile({_SOURCE!r}, '<bodo-jupyter engine_ops>', 'exec'), "
            f"ns), ns[{function!r}](**{kwargs!r}))[1])({{'__name__': '_bodo_jupyter_ops'}})")


def one_per_host(hosts: Mapping[int, str]) -> list[int]:
    """The lowest rank on each distinct host, in rank order: one engine per node."""
    first: dict[str, int] = {}
    for rank in sorted(hosts):
        first.setdefault(hosts[rank], rank)
    return sorted(first.values())


def prefixed(label: str, text: str) -> str:
    """Every line of ``text`` behind ``label``."""
    return "".join(f"{label} {line}\n" for line in text.splitlines())


class ClusterTools:
    """pip and shell on the engines of one ipyparallel client (every rank of a cluster)."""

    def __init__(self, client: Any, *, cluster: str, pip_timeout: float, sh_timeout: float,
                 tail_lines: int, write: Callable[[str], None] | None = None):
        self.client = client
        self.cluster = cluster
        self.pip_timeout = pip_timeout
        self.sh_timeout = sh_timeout
        self.tail_lines = tail_lines
        self.write = write or (lambda text: print(text, end="", flush=True))

    # -- talking to engines ----------------------------------------------------------

    def _apply(self, ranks: list[int], function: str, **kwargs: Any) -> Any:
        """``engine_ops.<function>(**kwargs)`` on ``ranks``, not waited for (one answer per
        rank, in the order of ``ranks``)."""
        return self.client[ranks].apply_async(eval, engine_call(function, **kwargs), {})

    def _get(self, ar: Any, timeout: float, what: str) -> Any:
        import ipyparallel as ipp

        try:
            return ar.get(timeout=timeout)
        except (TimeoutError, ipp.error.TimeoutError):
            raise ClusterCommandError(f"{what}: no answer within {timeout:g}s") from None
        except ipp.error.CompositeError as e:
            ename, evalue, _tb, info = e.elist[0]
            rank = (info or {}).get("engine_id", "?")
            raise ClusterCommandError(f"{what} failed on rank {rank}: {ename}: {evalue}") from None
        except ipp.error.RemoteError as e:
            raise ClusterCommandError(f"{what} failed: {e.ename}: {e.evalue}") from None

    def describe(self) -> dict[int, dict[str, Any]]:
        """Every rank's host, packages folder and working folder."""
        ranks = sorted(self.client.ids)
        out = self._get(self._apply(ranks, "describe"), 60, "asking the engines")
        return dict(zip(ranks, out, strict=True))

    def _stream(self, ar: Any, timeout: float, what: str) -> Any:
        """Wait for one engine's result, writing its stdout into the cell as it comes."""
        shown = 0
        deadline = time.monotonic() + timeout

        def more() -> None:
            nonlocal shown
            text = ar.stdout if isinstance(ar.stdout, str) else "".join(ar.stdout)
            if len(text) > shown:
                self.write(text[shown:])
                shown = len(text)

        try:
            while not ar.ready():
                if time.monotonic() > deadline:
                    raise ClusterCommandError(f"{what}: no answer within {timeout:g}s")
                ar.wait(0.2)
                more()
        except KeyboardInterrupt:
            raise ClusterCommandError(f"{what}: interrupted in the notebook; it goes on in "
                                      "the engine until it ends or its timeout") from None
        ar.wait_for_output(10)
        more()
        return self._get(ar, 1, what)

    # -- %ppip ----------------------------------------------------------------------------

    def pip(self, command: str, args: list[str]) -> None:
        """pip once on the cluster's packages folder (rank 0: the folder is one folder that
        every rank sees), then the result importable on every rank."""
        where = self.describe()
        folders = {d["packages"] for d in where.values()}
        if None in folders:
            raise ClusterCommandError(
                f"the engines of cluster {self.cluster} have no packages folder (the cluster "
                "was made by an older bodo-jupyter): delete and create it to use %ppip")
        if len(folders) != 1:
            raise ClusterCommandError(f"the ranks of cluster {self.cluster} disagree on their "
                                      f"packages folder: {sorted(folders)}")
        packages = folders.pop()
        rank = min(where)
        what = f"pip {command}"
        ar = self._apply([rank], "pip", command=command, args=args, packages=packages,
                         timeout=self.pip_timeout, tail=self.tail_lines)
        result = self._stream(ar, self.pip_timeout + 60, what)[0]
        if result["code"] != 0:
            tail = "\n".join(result["tail"][-self.tail_lines:])
            hint = ""
            if "(constraint)" in tail:
                hint = ("\n%ppip adds packages beside the cluster's environment and keeps the "
                        "versions it has: a package it has cannot be changed")
            raise ClusterCommandError(f"{what} failed on rank {rank} (exit code "
                                      f"{result['code']}):\n{tail}{hint}")
        if command not in ("install", "uninstall"):
            return
        changed = result["changed"]
        ranks = sorted(where)
        refreshed = self._get(self._apply(ranks, "refresh", packages=packages,
                                          names=changed), 60, "refreshing the engines")
        done = "Installed into" if command == "install" else "Removed from"
        self.write(f"{done} the packages folder of cluster {self.cluster} ({packages}): "
                   f"{'importable' if command == 'install' else 'gone'} on all {len(ranks)} "
                   "ranks now.\n")
        stale: dict[str, list[int]] = {}
        for r, answer in zip(ranks, refreshed, strict=True):
            for name in answer["imported"]:
                stale.setdefault(name, []).append(r)
        for name, where_ in sorted(stale.items()):
            self.write(f"Note: {name} was imported already on ranks {rank_ranges(where_)}: "
                       "those engines keep the version they imported until they restart "
                       "(delete and create the cluster); it is not reloaded.\n")

    # -- %psh -----------------------------------------------------------------------------

    def sh(self, command: str, all_ranks: bool = False) -> None:
        """``command`` on one engine per node (every rank with ``all_ranks``), output per
        node or rank behind its label; failures (exit code != 0) raise, after the output."""
        where = self.describe()
        hosts = {r: d["host"] for r, d in where.items()}
        targets = sorted(hosts) if all_ranks else one_per_host(hosts)
        ar = self._apply(targets, "sh", command=command, timeout=self.sh_timeout)
        answers = self._get(ar, self.sh_timeout + 60, "%psh")
        failed = []
        for r, answer in zip(targets, answers, strict=True):
            label = f"[rank {r} on {hosts[r]}]" if all_ranks else f"[node {hosts[r]}]"
            self.write(prefixed(label, answer["stdout"]))
            if answer["stderr"]:
                sys.stderr.write(prefixed(label, answer["stderr"]))
                sys.stderr.flush()
            if answer["code"] != 0:
                how = ("stopped after its timeout" if answer["code"] is None
                       else f"exit code {answer['code']}")
                failed.append(f"rank {r} on {hosts[r]}: {how}" if all_ranks
                              else f"node {hosts[r]} (rank {r}): {how}")
        if failed:
            kind = "ranks" if all_ranks else "nodes"
            raise ClusterCommandError(f"failed on {len(failed)} of {len(targets)} {kind}: "
                                      + "; ".join(failed))
