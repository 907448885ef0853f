"""BodoAuthenticator on PostgreSQL, given by URL: a real hub signs up, activates, logs in
and locks out with its accounts in a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller

from bodo_jupyter.contract.hub_groups import org_groups
from tests.hub import Hub
from tests.net import free_port
from tests.test_hub_auth import PASSWORD, Mailbox, link_of, log_in, sign_up, text

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def pg_hub(tmp_path: Path, pg_url: str) -> Iterator[tuple[Hub, Mailbox, str]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box.catcher, hostname="127.0.0.1", port=port)
    controller.start()
    h = Hub(tmp_path / "hub", f"""
        c.JupyterHub.authenticator_class = "bodo"
        c.BodoAuthenticator.db_url = {pg_url!r}
        c.BodoAuthenticator.smtp_host = "127.0.0.1"
        c.BodoAuthenticator.smtp_port = {port}
        c.BodoAuthenticator.lockout_failures = 2
        c.BodoAuthenticator.argon2_memory_cost = 8192
        """)
    try:
        yield h.start(), box, pg_url
    finally:
        try:
            h.stop()
        finally:
            controller.stop()


def test_accounts_in_postgresql(pg_hub: tuple[Hub, Mailbox, str]) -> None:
    hub, box, url = pg_hub
    assert sign_up(hub, email="pg@example.com", organization="Elephants").status_code == 302
    assert hub.browser().get(link_of(box.wait("pg@example.com", "Activate"))).status_code \
        == 302
    hub.login("pg@example.com", PASSWORD).close()
    with hub.api() as api:
        groups = api.get("/users/pg@example.com").json()["groups"]
    assert sorted(groups) == sorted(org_groups("Elephants", admin=True))
    with psycopg.connect(url.replace("+psycopg", "")) as db:
        row = db.execute("SELECT activated_at IS NOT NULL, is_admin FROM accounts"
                         " WHERE email = 'pg@example.com'").fetchone()
    assert row == (True, True)
    assert not (hub.root / "bodo_accounts.sqlite").exists()

    for _ in range(2):
        log_in(hub, "pg@example.com", "Wrong-password-123")
    hub.restart()
    assert "Too many failed logins" in text(log_in(hub, "pg@example.com"))
