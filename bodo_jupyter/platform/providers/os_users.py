"""An OS user per organisation, made on demand (like systemd's dynamic users).

When the control plane runs as root, the local provider runs each
organisation's controller, engines, jobs and Git fetches as that
organisation's own user: another organisation's code then cannot read its
files or its processes' environments (``/proc/<pid>/environ`` is private to
the user and root), nor the control plane's database, key or logs (0600/0700,
owned by the service user). Users are system accounts with no password, no
login shell and no supplementary groups, named from the organisation's id
(never its name, which users choose), with uids from a range of their own.
"""

from __future__ import annotations

import errno
import os
import pwd
import subprocess
import threading
from pathlib import Path

from traitlets import Integer, Unicode, validate
from traitlets.config import LoggingConfigurable

from ..errors import ProvisionError
from ..run_as import RunAs


def user_name(prefix: str, org_id: str) -> str:
    """``bodo-5f2a9c81d3e0`` for organisation ``o-5f2a9c81d3e0``: short, stable, safe."""
    tail = org_id.removeprefix("o-")
    if not tail or not all(c.isalnum() or c in "-_" for c in tail):
        raise ValueError(f"organisation id {org_id!r} cannot name an OS user")
    return f"{prefix}{tail}"[:32].lower()


def useradd_argv(useradd: str, name: str, uid: int, home: Path) -> list[str]:
    """A system user with a private group, no password, no login and no home made for it
    (the provider makes and owns the home folder itself)."""
    return [useradd, "--system", "--uid", str(uid), "--user-group", "--no-create-home",
            "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
            "--comment", "bodo-jupyter organisation", name]


class OrgUsers(LoggingConfigurable):
    """Makes and finds the OS user of each organisation (root only)."""

    name_prefix = Unicode(
        "bodo-", config=True,
        help="Start of the OS user names made for organisations (bodo-<organisation id>).",
    )
    uid_min = Integer(
        61184, config=True,
        help="Lowest uid (and gid) given to an organisation's user (systemd's dynamic-user "
        "range starts here too).",
    )
    uid_max = Integer(65519, config=True, help="Highest uid given to an organisation's user.")
    useradd = Unicode("useradd", config=True, help="The useradd program.")
    userdel = Unicode("userdel", config=True, help="The userdel program.")

    @validate("name_prefix")
    def _check_prefix(self, proposal: dict) -> str:
        v = proposal["value"]
        if not v or not v[0].isalpha() or not all(c.isalnum() or c in "-_" for c in v):
            raise ValueError(f"OrgUsers.name_prefix {v!r}: letters, digits, - and _, "
                             "starting with a letter")
        return str(v)

    def __init__(self, **kwargs: object):
        super().__init__(**kwargs)
        self._lock = threading.Lock()

    def name_for(self, org_id: str) -> str:
        return user_name(self.name_prefix, org_id)

    def find(self, org_id: str, home: Path) -> RunAs | None:
        try:
            pw = pwd.getpwnam(self.name_for(org_id))
        except KeyError:
            return None
        return RunAs(pw.pw_name, pw.pw_uid, pw.pw_gid, home)

    def ensure(self, org_id: str, home: Path) -> RunAs:
        """The organisation's user, made now if it does not exist. Blocking."""
        found = self.find(org_id, home)
        if found is not None:
            return found
        if os.geteuid() != 0:
            raise ProvisionError("organisations get OS users of their own only when the "
                                 "control plane runs as root")
        name = self.name_for(org_id)
        with self._lock:
            found = self.find(org_id, home)
            if found is not None:
                return found
            for uid in range(self.uid_min, self.uid_max + 1):
                if _taken(uid):
                    continue
                proc = subprocess.run(useradd_argv(self.useradd, name, uid, home),
                                      capture_output=True, text=True, stdin=subprocess.DEVNULL)
                if proc.returncode == 0:
                    break
                found = self.find(org_id, home)
                if found is not None:  # another control plane made it meanwhile
                    return found
                if proc.returncode == 4 or "already" in proc.stderr:  # uid taken meanwhile
                    continue
                raise ProvisionError(f"could not create the OS user {name} for the "
                                     f"organisation: {proc.stderr.strip()}")
            else:
                raise ProvisionError(f"no free uid left in {self.uid_min}-{self.uid_max} "
                                     "for a new organisation (OrgUsers.uid_min/uid_max)")
        made = self.find(org_id, home)
        if made is None:
            raise ProvisionError(f"the OS user {name} was created but cannot be found")
        self.log.info("created OS user %s (uid %d) for organisation %s", name, made.uid,
                      org_id)
        return made

    def remove(self, org_id: str) -> bool:
        """Delete the organisation's user (its files are the caller's to remove)."""
        name = self.name_for(org_id)
        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        proc = subprocess.run([self.userdel, name], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode not in (0, 6):  # 6: no such user (gone meanwhile)
            raise ProvisionError(f"could not remove the OS user {name}: {proc.stderr.strip()}")
        return True


def _taken(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    try:
        import grp

        grp.getgrgid(uid)
        return True
    except KeyError:
        return False
    except OSError as e:  # pragma: no cover - nss trouble
        return e.errno != errno.ENOENT
