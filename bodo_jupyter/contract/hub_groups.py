"""How an organisation travels from the hub to the control plane: JupyterHub groups.

The hub is the source of identity. Its authenticator puts each user in the group of
their organisation (and of its admins, for an admin) on every login; the control plane,
running as a hub service, reads those groups from the user model the hub gives it.
Both sides import these names from here, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ORG_GROUP_PREFIX = "bodo-org:"
ORG_ADMIN_GROUP_PREFIX = "bodo-org-admin:"

#: What an organisation may be called: letters, digits, space, dot, underscore, hyphen;
#: no space at either end (names are shown, typed and compared case-insensitively).
ORG_NAME = re.compile(r"^[A-Za-z0-9._-](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?$")


class GroupError(ValueError):
    """The groups of a hub user do not name exactly one organisation."""


def check_org_name(name: str) -> str:
    """The name itself if it is a valid organisation name; ValueError saying why if not."""
    if not ORG_NAME.match(name):
        raise ValueError("an organisation name is 1-64 letters, digits, spaces, '.', '_' or"
                         " '-', with no space at either end")
    return name


def org_groups(org: str, admin: bool) -> list[str]:
    """The hub groups of a member (and, for an admin, of the organisation's admins)."""
    check_org_name(org)
    groups = [ORG_GROUP_PREFIX + org]
    if admin:
        groups.append(ORG_ADMIN_GROUP_PREFIX + org)
    return groups


def org_from_groups(groups: Iterable[str]) -> tuple[str, bool] | None:
    """(organisation, is_admin) from a hub user's groups; None for a user of none.

    Being admin of an organisation one is not a member of counts for nothing: the
    membership group is what gives access.
    """
    groups = list(groups)
    orgs = [g[len(ORG_GROUP_PREFIX):] for g in groups if g.startswith(ORG_GROUP_PREFIX)]
    if not orgs:
        return None
    if len(orgs) > 1:
        raise GroupError(f"the hub account is in {len(orgs)} organisations' groups"
                         f" ({', '.join(sorted(orgs))}); it must be in one")
    org = orgs[0]
    return org, (ORG_ADMIN_GROUP_PREFIX + org) in groups
