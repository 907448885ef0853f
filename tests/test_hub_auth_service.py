"""The front door and the platform together: a person who signs up through
BodoAuthenticator lands on the platform's page in their new organisation, and the
colleague they invite shares it (the hub groups are the only link between the two)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.hub import Hub, service_config, user_token, wait_for_service
from tests.net import free_port
from tests.test_hub_auth import PASSWORD, Mailbox, link_of, sign_up, text

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Hub, Mailbox]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box.catcher, hostname="127.0.0.1", port=port)
    controller.start()
    config = textwrap.dedent(f"""
        c.JupyterHub.authenticator_class = "bodo"
        c.BodoAuthenticator.smtp_host = "127.0.0.1"
        c.BodoAuthenticator.smtp_port = {port}
        c.BodoAuthenticator.argon2_memory_cost = 8192
        """) + service_config(port=free_port(), data=tmp_path / "plane")
    h = Hub(tmp_path / "hub", config)
    try:
        h.start()
        wait_for_service(h)
        yield h, box
    finally:
        try:
            h.stop()
        finally:
            controller.stop()


def test_a_new_sign_up_lands_in_its_organisation_and_its_invitee_shares_it(
        platform: tuple[Hub, Mailbox]) -> None:
    hub, box = platform
    assert sign_up(hub, email="ada@engines.com", organization="Engines").status_code == 302
    assert hub.browser().get(link_of(box.wait("ada@engines.com", "Activate"))) \
        .status_code == 302
    browser = hub.login("ada@engines.com", PASSWORD)
    page = browser.get("/hub/")  # the hub's default URL: the platform's page
    assert page.status_code == 200 and str(page.url).rstrip("/").endswith("/services/bodo")
    assert "ada@engines.com" in text(page) and "Engines" in text(page)

    browser.follow_redirects = False
    r = hub.submit(browser, "/hub/bodo/invitations", {"email": "bea@engines.com"})
    assert r.status_code == 200
    invite = link_of(box.wait("bea@engines.com", "invites you to Engines"))
    assert sign_up(hub, path=invite.removeprefix(hub.url), full_name="Bea Babbage") \
        .headers["location"] == "/hub/login?notice=joined"
    hub.login("bea@engines.com", PASSWORD).close()
    browser.close()

    for user in ("ada@engines.com", "bea@engines.com"):
        with httpx.Client(base_url=hub.url + "/services/bodo/api/v1", timeout=30,
                          headers={"Authorization": f"token {user_token(hub, user)}"}) as api:
            me = api.get("/").json()
            assert me["user"]["name"] == user and me["organization"]["name"] == "Engines", me
