"""Which Bodo a cluster runs: the versions a provider offers, and the choice among them.

A cluster's Bodo version is part of what it is (shown, stored, chosen at create):
jit code compiled by one Bodo is not another's, and the nodes of an AWS cluster
install it at boot. The defaults are read, never written down twice: the ``bodo``
extra's pin in bodo-jupyter's own metadata (what ``pyproject.toml`` says), and the
bodo installed beside the engines.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from ..errors import BadRequest


def parse(v: str) -> Version:
    """A PEP 440 version, or ValueError saying what is wrong."""
    try:
        return Version(v)
    except InvalidVersion:
        raise ValueError(f"{v!r} is not a version (such as 2026.10)") from None


def same(a: str, b: str) -> bool:
    """``2026.10`` is ``2026.10.0``."""
    try:
        return parse(a) == parse(b)
    except ValueError:
        return a == b


def newest_first(versions: Iterable[str]) -> list[str]:
    """Distinct versions, newest first (the first is the default of a create)."""
    out: list[str] = []
    for v in sorted(versions, key=parse, reverse=True):
        if not any(same(v, o) for o in out):
            out.append(v)
    return out


def pinned(package: str = "bodo-jupyter", extra: str = "bodo") -> str | None:
    """The bodo version the ``bodo`` extra pins (``bodo==2026.10.*`` -> ``2026.10``), or
    None when the extra does not pin one version (or bodo-jupyter is not installed)."""
    try:
        reqs = requires(package) or []
    except PackageNotFoundError:
        return None
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.name != "bodo" or req.marker is None or not req.marker.evaluate({"extra": extra}):
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            v = specs[0].version.removesuffix(".*")
            try:
                parse(v)
            except ValueError:
                return None
            return v
    return None


def installed(python: str | None = None) -> str | None:
    """The bodo installed for ``python`` (None: this process's), or None without one."""
    if python is None:
        try:
            return version("bodo")
        except PackageNotFoundError:
            return None
    try:
        out = subprocess.run(
            [python, "-c", "import importlib.metadata as m\n"
             "try:\n    print(m.version('bodo'))\nexcept m.PackageNotFoundError:\n    pass"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def choose(requested: str | None, offered: list[str], *, provider: str,
           field: str = "bodo_version") -> str | None:
    """The version a new cluster runs: ``requested`` if offered (as offered is spelt),
    else the newest offered; None when nothing is offered and nothing was asked. A
    version not offered is a 400 on ``field`` that lists the offered ones."""
    if requested is None:
        return offered[0] if offered else None
    for v in offered:
        if same(v, requested):
            return v
    if not offered:
        raise BadRequest(f"provider {provider} offers no Bodo version; leave "
                         f"{field} out", field=field)
    raise BadRequest(f"Bodo {requested} is not offered by provider {provider}; choose one "
                     f"of: {', '.join(offered)}", field=field)
