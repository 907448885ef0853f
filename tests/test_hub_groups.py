"""The hub groups that carry a user's organisation to the control plane."""

from __future__ import annotations

import pytest

from bodo_jupyter.contract.hub_groups import (
    GroupError,
    check_org_name,
    org_from_groups,
    org_groups,
)


def test_groups_round_trip() -> None:
    assert org_groups("Acme Labs", admin=False) == ["bodo-org:Acme Labs"]
    assert org_from_groups(org_groups("Acme Labs", admin=False)) == ("Acme Labs", False)
    assert org_from_groups([*org_groups("acme", admin=True), "other"]) == ("acme", True)


def test_no_org_group_is_none_and_admin_alone_gives_nothing() -> None:
    assert org_from_groups([]) is None
    assert org_from_groups(["bodo-org-admin:acme", "staff"]) is None


def test_admin_of_another_org_is_not_admin_here() -> None:
    assert org_from_groups(["bodo-org:acme", "bodo-org-admin:globex"]) == ("acme", False)


def test_two_orgs_are_an_error_naming_them() -> None:
    with pytest.raises(GroupError, match="acme, globex"):
        org_from_groups(["bodo-org:globex", "bodo-org:acme"])


@pytest.mark.parametrize("name", ["", " acme", "acme ", "a/b", "a\nb", "x" * 65, "é"])
def test_bad_org_names(name: str) -> None:
    with pytest.raises(ValueError, match="organisation name"):
        check_org_name(name)
    with pytest.raises(ValueError):
        org_groups(name, admin=False)


@pytest.mark.parametrize("name", ["a", "Acme Labs", "acme-2.0_x", "x" * 64])
def test_good_org_names(name: str) -> None:
    assert check_org_name(name) == name
