"""The environment of user work (engines, jobs, their supervisor, Git fetches).

Built from an allow-list, never inherited: the control plane's own environment
holds what must never reach user code -- ``BODO_JUPYTER_SECRET_KEY`` (the key
of every stored secret), the platform's AWS keys, a hub's API token, the
database URL with its password. A variable passes only when its name matches
``keep`` and matches none of :data:`NEVER`, which no configuration can widen;
then the platform sets what it decides itself (the OS user's HOME, MPI
settings, tags) and, last, the job's own variables. Pure: tested without
processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

#: What user code needs of the host's environment to behave like a shell would.
DEFAULT_KEEP: tuple[str, ...] = (
    "PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM", "HOME", "USER", "LOGNAME", "SHELL",
    "TMPDIR",
)

#: Names that never pass from the control plane's environment, whatever ``keep``
#: says: secrets by their usual names, and the platform's and the hub's own
#: variables (the platform sets the few it means to give, after filtering).
NEVER: tuple[str, ...] = (
    "*SECRET*", "*TOKEN*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*", "*PRIVATE_KEY*",
    "*API_KEY*", "*ACCESS_KEY*", "*SESSION_KEY*",
    "AWS_*", "BODO_JUPYTER_*", "BODO_GIT_*", "JUPYTERHUB_*", "JPY_*", "JUPYTER_*",
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONHOME",
    "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONSAFEPATH",
    "DATABASE_URL", "*_DB_URL", "*_DSN",
)


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Shell-style patterns, case-sensitive (``LC_*``, ``*TOKEN*``)."""
    return any(fnmatchcase(name, p) for p in patterns)


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name may never leave the control plane."""
    return matches(name.upper(), NEVER)


def inherited(base: Mapping[str, str], keep: Iterable[str] = DEFAULT_KEEP) -> dict[str, str]:
    """The part of ``base`` (the control plane's environment) that user work may see."""
    keep = tuple(keep)
    return {k: v for k, v in base.items() if matches(k, keep) and not is_secret_name(k)}


def user_env(base: Mapping[str, str], *, keep: Iterable[str] = DEFAULT_KEEP,
             platform: Mapping[str, str] | None = None,
             job: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of one piece of user work.

    ``platform``: what the platform decides (HOME, USER, MPI settings, tags);
    ``job``: the job's own variables, last, so a user can override what the
    platform defaults to (the API refuses names the platform reserves).
    """
    env = inherited(base, keep)
    env.update(platform or {})
    env.update(job or {})
    return env


def secrets_in(env: Mapping[str, str], secrets: Iterable[str]) -> list[str]:
    """Names of variables whose value holds one of ``secrets`` (for tests and checks)."""
    values = [s for s in secrets if s]
    return sorted(k for k, v in env.items() if any(s in v for s in values))
