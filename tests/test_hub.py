"""The hub the hub tests run: a real JupyterHub behind configurable-http-proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bodo_jupyter.contract.hub_groups import org_from_groups, org_groups
from tests.hub import Hub

pytestmark = pytest.mark.timeout(180)

# A stand-in authenticator for these tests only: any password "pw", and the organisation
# from the user name (ada-acme -> acme), carried as the hub groups the platform reads.
CONFIG = """
from jupyterhub.auth import DummyAuthenticator
from bodo_jupyter.contract.hub_groups import org_groups

class OrgFromName(DummyAuthenticator):
    manage_groups = True
    async def authenticate(self, handler, data):
        user = await super().authenticate(handler, data)
        if user is None:
            return None
        name = user if isinstance(user, str) else user["name"]
        return {"name": name, "groups": org_groups(name.split("-")[-1], admin=False)}

c.JupyterHub.authenticator_class = OrgFromName
c.DummyAuthenticator.password = "pw"
c.Authenticator.allow_all = True
"""


@pytest.fixture
def hub(tmp_path: Path):
    h = Hub(tmp_path / "hub", CONFIG).start()
    try:
        yield h
    finally:
        h.stop()


def test_login_through_the_proxy_puts_the_user_in_their_organisations_group(hub: Hub) -> None:
    browser = hub.login("ada-acme", "pw")
    browser.close()
    with hub.api() as api:
        user = api.get("/users/ada-acme").json()
        assert org_from_groups(user["groups"]) == ("acme", False)
        group = api.get("/groups/" + org_groups("acme", admin=False)[0]).json()
        assert group["users"] == ["ada-acme"]


def test_a_wrong_password_does_not_log_in(hub: Hub) -> None:
    with pytest.raises(AssertionError, match="login of bob-acme failed"):
        hub.login("bob-acme", "nope")


def test_the_hub_keeps_its_users_across_a_restart(hub: Hub) -> None:
    hub.login("ada-acme", "pw").close()
    hub.restart()
    with hub.api() as api:
        assert api.get("/users/ada-acme").status_code == 200
