"""Sign-up, activation, login and organisations on a real JupyterHub (BodoAuthenticator).

One hub for the module (tests use e-mails and organisations of their own), its mails
received by a real aiosmtpd server that requires the SMTP login; the accounts database
is read directly to count what a refused input left behind. The lockout test restarts the
hub, and the log test reads what the whole module made the hub write: both come last.
"""

from __future__ import annotations

import html
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bodo_jupyter.contract.hub_groups import org_groups
from bodo_jupyter.hub import tokens
from bodo_jupyter.hub.mail_catcher import MailCatcher, links
from tests.hub import Hub
from tests.net import free_port

pytestmark = pytest.mark.timeout(300)

SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-Secret-7f3a91"
ADMIN_EMAIL, ADMIN_ORG, ADMIN_PASSWORD = "root@example.com", "Founders", "Initial-admin-pw-58x"
PASSWORD = "Blue-fjord-lamp-47"  # strong enough; every test account uses it
SECRETS_USED: set[str] = {SMTP_PASSWORD, ADMIN_PASSWORD, PASSWORD, "Quiet-otter-8812"}


class Mailbox:
    """What the SMTP server received, with a wait for the next mail to an address."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.catcher = MailCatcher(out=None, on_mail=self._got)
        self.logins: list[tuple[str, str]] = []

    def _got(self, _msg: EmailMessage) -> None:
        with self.cond:
            self.cond.notify_all()

    def auth(self, server: Any, session: Any, envelope: Any, mechanism: str,
             auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD))

    def wait(self, to: str, subject: str, after: int = 0, timeout: float = 20) -> EmailMessage:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for msg in self.catcher.messages[after:]:
                    if to in str(msg["To"]) and subject in str(msg["Subject"]):
                        return msg
                left = deadline - time.monotonic()
                assert left > 0, f"no mail to {to} about {subject!r}: " + "; ".join(
                    f"{m['To']}: {m['Subject']}" for m in self.catcher.messages)
                self.cond.wait(left)

    def count(self) -> int:
        return len(self.catcher.messages)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box.catcher, hostname="127.0.0.1", port=port,
                            authenticator=box.auth, auth_require_tls=False)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory,
        mailbox: tuple[Mailbox, int]) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub-auth")
    pw_file = root / "admin-password"
    pw_file.write_text(ADMIN_PASSWORD + "\n")
    pw_file.chmod(0o600)
    h = Hub(root / "hub", f"""
        c.JupyterHub.authenticator_class = "bodo"
        c.JupyterHub.log_level = "DEBUG"
        c.BodoAuthenticator.smtp_host = "127.0.0.1"
        c.BodoAuthenticator.smtp_port = {mailbox[1]}
        c.BodoAuthenticator.smtp_username = {SMTP_USER!r}
        c.BodoAuthenticator.smtp_password = {SMTP_PASSWORD!r}
        c.BodoAuthenticator.mail_from = "hub@example.com"
        c.BodoAuthenticator.lockout_failures = 3
        c.BodoAuthenticator.resend_interval = 0
        c.BodoAuthenticator.argon2_memory_cost = 8192
        c.BodoAuthenticator.terms_version = "2026-12"
        c.BodoAuthenticator.initial_admin_email = {ADMIN_EMAIL!r}
        c.BodoAuthenticator.initial_admin_organization = {ADMIN_ORG!r}
        c.BodoAuthenticator.initial_admin_password_file = {str(pw_file)!r}
        """).start()
    try:
        yield h
    finally:
        h.stop()


def rows(hub: Hub) -> dict[str, int]:
    with sqlite3.connect(hub.root / "bodo_accounts.sqlite") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("organizations", "accounts", "invitations")}


def account(hub: Hub, email: str) -> dict[str, object] | None:
    with sqlite3.connect(hub.root / "bodo_accounts.sqlite") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM accounts WHERE email = ?", (email,)).fetchone()
        return dict(row) if row else None


def sign_up(hub: Hub, client: httpx.Client | None = None, path: str = "/hub/bodo/signup",
            **fields: str) -> httpx.Response:
    data = {"full_name": "Ada Lovelace", "password": PASSWORD, "terms": "on", **fields}
    return hub.submit(client or hub.browser(), path, data)


def log_in(hub: Hub, email: str, password: str = PASSWORD) -> httpx.Response:
    """The login form's answer (a 302 on success, the form with a message if not)."""
    return hub.submit(hub.browser(), "/hub/login", {"username": email, "password": password})


def text(r: httpx.Response) -> str:
    """The page as a person reads it (the templates escape quotes)."""
    return html.unescape(r.text)


def link_of(msg: EmailMessage) -> str:
    (link,) = links(msg)
    return link


def test_sign_up_activate_log_in_and_get_the_organisations_groups(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    login_page = hub.browser().get("/hub/login")
    assert 'href="/hub/bodo/signup"' in text(login_page) and "E-mail:" in text(login_page)

    before = rows(hub)
    r = sign_up(hub, email="Ada@Example.com", organization="Analytical Engines")
    assert r.status_code == 302 and r.headers["location"] == "/hub/bodo/signup/sent"
    sent = hub.browser().get("/hub/bodo/signup/sent")
    assert "An activation link is on its way" in text(sent)
    assert rows(hub) == {**before, "organizations": before["organizations"] + 1,
                         "accounts": before["accounts"] + 1}
    made = account(hub, "ada@example.com")
    assert made is not None and made["activated_at"] is None and made["is_admin"]
    assert made["terms_version"] == "2026-12" and made["terms_accepted_at"]
    assert made["password_hash"].startswith("$argon2id$")

    msg = box.wait("ada@example.com", "Activate your Bodo account")
    link = link_of(msg)
    assert link.startswith(hub.url + "/hub/bodo/activate?token=")
    assert (SMTP_USER, SMTP_PASSWORD) in box.logins  # the hub logged in to the SMTP server

    early = log_in(hub, "ada@example.com")  # the right password, before activation
    assert early.status_code == 403 and "not activated yet" in text(early)

    with hub.browser() as browser:
        activated = browser.get(link)
        assert activated.status_code == 302
        assert activated.headers["location"] == "/hub/login?notice=activated"
        page = browser.get(activated.headers["location"])
        assert "Your account is active" in text(page)

    hub.login("ADA@example.com", PASSWORD).close()  # through the proxy; any case of e-mail
    with hub.api() as api:
        user = api.get("/users/ada@example.com")
        assert user.status_code == 200, user.text
        assert sorted(user.json()["groups"]) == sorted(
            org_groups("Analytical Engines", admin=True))
        group = api.get("/groups/" + org_groups("Analytical Engines", admin=True)[1]).json()
        assert group["users"] == ["ada@example.com"]
        assert user.json()["admin"] is False  # an organisation's admin is not a hub admin


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"password": "short1"}, "password", "at least 10 characters"),
    ({"password": "Password2024!"}, "password", "common password"),
    ({"password": "grace.hopper77"}, "password", "from your e-mail, name or organisation"),
    ({"terms": ""}, "terms", "Accept the terms and conditions"),
    ({"organization": "bad!name"}, "organization", "organisation name is 1-64"),
    ({"organization": "a/b"}, "organization", "organisation name is 1-64"),
    ({"email": "not-an-address"}, "email", "Enter an e-mail address"),
])
def test_a_bad_sign_up_says_why_keeps_the_form_and_makes_nothing(
        hub: Hub, fields: dict[str, str], field: str, message: str) -> None:
    before = rows(hub)
    r = sign_up(hub, **{"full_name": "Grace Hopper", "email": "grace.hopper@example.com",
                        "organization": "Navy Labs", **fields})
    assert r.status_code == 400
    error = re.search(rf'id="error-{field}">([^<]*)<', text(r))
    assert error and message in error.group(1), text(r)
    assert 'value="Grace Hopper"' in text(r)  # what was typed stays...
    assert (fields.get("password") or PASSWORD) not in text(r)  # ...but never the password
    assert rows(hub) == before
    assert account(hub, "grace.hopper@example.com") is None


def test_a_sign_up_without_the_forms_xsrf_token_is_refused(hub: Hub) -> None:
    before = rows(hub)
    with hub.browser() as browser:
        browser.get("/hub/bodo/signup")  # has the cookie, but posts no _xsrf
        r = browser.post("/hub/bodo/signup", data={
            "full_name": "Eve", "email": "eve@example.com", "organization": "Eves",
            "password": PASSWORD, "terms": "on"})
    assert r.status_code == 403 and rows(hub) == before


def test_an_e_mail_with_a_plus_is_a_hub_user_name(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    assert sign_up(hub, email="ada+hub@example.com", organization="Plus").status_code == 302
    link = link_of(mailbox[0].wait("ada+hub@example.com", "Activate"))
    assert hub.browser().get(link).status_code == 302
    browser = hub.login("ada+hub@example.com", PASSWORD)
    browser.follow_redirects = False
    assert browser.get("/hub/home").status_code == 200  # the hub's own page, as this user
    # The server's URL routes to this user (no server runs: the hub's "not running" page).
    r = browser.get("/user/ada+hub@example.com/", follow_redirects=True)
    assert r.status_code == 424 and "ada+hub@example.com" in text(r), (r.status_code, r.url)
    with hub.api() as api:
        user = api.get("/users/ada%2Bhub@example.com")
        assert user.status_code == 200 and user.json()["name"] == "ada+hub@example.com"
        assert sorted(user.json()["groups"]) == sorted(org_groups("Plus", admin=True))
    browser.close()


def test_an_existing_organisation_needs_an_invitation(hub: Hub) -> None:
    assert sign_up(hub, email="first@tabulating.com",
                   organization="Tabulating Co").status_code == 302
    before = rows(hub)
    r = sign_up(hub, email="second@tabulating.com", organization="TABULATING co")
    assert r.status_code == 400
    assert ("The organisation Tabulating Co exists already: ask its admin for an"
            " invitation.") in text(r)
    assert rows(hub) == before and account(hub, "second@tabulating.com") is None


def test_a_second_sign_up_with_a_registered_e_mail_looks_the_same_and_mails_the_owner(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    assert sign_up(hub, email="dup@example.com", organization="Dup One").status_code == 302
    assert hub.browser().get(link_of(box.wait("dup@example.com", "Activate"))) \
        .status_code == 302
    before, mails = rows(hub), box.count()
    r = sign_up(hub, email="DUP@example.com", organization="Dup Two", full_name="Mallory")
    assert r.status_code == 302 and r.headers["location"] == "/hub/bodo/signup/sent"
    notice = box.wait("dup@example.com", "Someone tried to sign up", after=mails)
    assert "No new account was made" in notice.get_content()
    assert rows(hub) == before
    assert account(hub, "dup@example.com")["full_name"] == "Ada Lovelace"  # type: ignore[index]


def test_a_pending_sign_up_is_replaced_by_the_next_one_with_its_e_mail(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    """Whoever signed up first with someone else's address gains nothing: the owner's own
    sign-up replaces it, and only the newest link, in the owner's mailbox, activates."""
    box = mailbox[0]
    assert sign_up(hub, email="owner@example.com", organization="Squatters",
                   full_name="Mallory", password="Quiet-otter-8812").status_code == 302
    first = link_of(box.wait("owner@example.com", "Activate"))
    before, mails = rows(hub), box.count()
    r = sign_up(hub, email="owner@example.com", organization="Owners")
    assert r.status_code == 302 and r.headers["location"] == "/hub/bodo/signup/sent"
    second = link_of(box.wait("owner@example.com", "Activate", after=mails))
    assert rows(hub) == before  # the same account, its organisation replaced
    assert hub.browser().get(first).status_code == 410
    assert hub.browser().get(second).status_code == 302
    assert log_in(hub, "owner@example.com").status_code == 302
    assert log_in(hub, "owner@example.com", "Quiet-otter-8812").status_code == 403
    with hub.api() as api:
        assert sorted(api.get("/users/owner@example.com").json()["groups"]) == \
            sorted(org_groups("Owners", admin=True))
    # "Squatters" went with the pending account: the name is free.
    assert sign_up(hub, email="x@squatters.com", organization="Squatters").status_code == 302


def test_activation_links_expired_tampered_reused_or_replaced_are_refused(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    assert sign_up(hub, email="links@example.com", organization="Links").status_code == 302
    link = link_of(box.wait("links@example.com", "Activate"))
    token = parse_qs(urlsplit(link).query)["token"][0]
    claims = tokens.verify(hub_key(hub), tokens.ACTIVATION, token, time.time())
    browser = hub.browser()

    body, _, mac = token.partition(".")
    tampered_claims = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    for bad in (f"{tampered_claims}.{mac}", token[:-3], "garbage", ""):
        r = browser.get("/hub/bodo/activate", params={"token": bad})
        assert r.status_code == 400 and "This activation link is not valid" in text(r)
        assert 'href="/hub/bodo/resend"' in text(r)

    expired = tokens.sign(hub_key(hub), tokens.ACTIVATION,
                          {"a": claims["a"], "n": claims["n"]}, time.time() - 1)
    r = browser.get("/hub/bodo/activate", params={"token": expired})
    assert r.status_code == 410 and "expired" in text(r) and 'href="/hub/bodo/resend"' in text(r)
    assert account(hub, "links@example.com")["activated_at"] is None  # type: ignore[index]

    # A resend replaces the link: the first one no longer works, the new one does, once.
    mails = box.count()
    r = hub.submit(browser, "/hub/bodo/resend", {"email": "Links@example.com"})
    assert r.status_code == 200 and "a new link is on its way" in text(r)
    new_link = link_of(box.wait("links@example.com", "Activate", after=mails))
    r = browser.get(link)
    assert r.status_code == 410 and "A newer activation link was sent" in text(r)
    assert browser.get(new_link).status_code == 302
    r = browser.get(new_link)
    assert r.status_code == 410 and "used already" in text(r)
    assert log_in(hub, "links@example.com").status_code == 302

    # The resend page answers the same for an e-mail with no account.
    r = hub.submit(browser, "/hub/bodo/resend", {"email": "nobody@example.com"})
    assert r.status_code == 200 and "If an account for nobody@example.com" in text(r)


def hub_key(hub: Hub) -> bytes:
    path = hub.root / "bodo_accounts.key"
    assert path.stat().st_mode & 0o777 == 0o600
    return bytes.fromhex(path.read_text().strip())


def test_an_admin_invites_and_the_invitee_joins_as_a_member(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    anonymous = hub.browser().get("/hub/bodo/invitations")
    assert anonymous.status_code == 302 and "/hub/login" in anonymous.headers["location"]

    admin = hub.login(ADMIN_EMAIL, ADMIN_PASSWORD)  # the initial admin, made at start
    admin.follow_redirects = False
    r = hub.submit(admin, "/hub/bodo/invitations", {"email": "not an address"})
    assert r.status_code == 400 and "Enter an e-mail address" in text(r)
    before = rows(hub)
    r = hub.submit(admin, "/hub/bodo/invitations", {"email": "Joiner@Example.com"})
    assert r.status_code == 200, text(r)
    assert "An invitation to Founders is on its way to joiner@example.com" in text(r)
    assert rows(hub)["invitations"] == before["invitations"] + 1
    invitation = box.wait("joiner@example.com", "invites you to Founders")
    link = link_of(invitation)
    assert link.startswith(hub.url + "/hub/bodo/signup?token=")

    browser = hub.browser()
    form = browser.get(link)
    assert form.status_code == 200 and "You were invited to the organisation" in text(form)
    assert re.search(r'name="organization"[^>]*value="Founders"[^>]*readonly', text(form))

    # A tampered invitation is refused, on the page and when posted.
    path = urlsplit(link).path + "?" + urlsplit(link).query
    bad = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    assert browser.get(bad).status_code == 400
    before = rows(hub)
    r = hub.submit(browser, path, {"full_name": "Joan Joiner", "password": PASSWORD,
                                   "terms": "on", "invitation": "x" + link[-20:]},
                   action=f"{hub.url}/hub/bodo/signup")
    assert r.status_code == 400 and "This invitation link is not valid" in text(r)
    assert rows(hub) == before
    claims = tokens.verify(hub_key(hub), tokens.INVITATION,
                           parse_qs(urlsplit(link).query)["token"][0], time.time())
    expired = tokens.sign(hub_key(hub), tokens.INVITATION, {"i": claims["i"]}, time.time() - 1)
    r = browser.get("/hub/bodo/signup", params={"token": expired})
    assert r.status_code == 410 and "This invitation has expired" in text(r)

    # The organisation and e-mail come from the invitation, whatever the form says.
    r = sign_up(hub, browser, path, full_name="Joan Joiner", organization="Elsewhere",
                email="other@example.com")
    assert r.status_code == 302 and r.headers["location"] == "/hub/login?notice=joined"
    joined = account(hub, "joiner@example.com")
    assert joined and joined["activated_at"] and not joined["is_admin"]
    assert account(hub, "other@example.com") is None
    assert rows(hub)["organizations"] == before["organizations"]

    member = hub.login("joiner@example.com", PASSWORD)
    with hub.api() as api:
        groups = api.get("/users/joiner@example.com").json()["groups"]
        assert groups == org_groups("Founders", admin=False)
    member.follow_redirects = False
    r = member.get("/hub/bodo/invitations")
    assert r.status_code == 403 and "Only an organisation's admins" in text(r)
    r = member.post("/hub/bodo/invitations",  # the form's POST, XSRF and all
                    data={"email": "x@example.com", "_xsrf": member.cookies.get("_xsrf", "")})
    assert r.status_code == 403
    assert rows(hub)["invitations"] == before["invitations"]

    used = hub.browser().get(link)  # single use
    assert used.status_code == 410 and "used already" in text(used)
    admin.close()
    member.close()


def test_lockout_after_failures_holds_across_a_restart(
        hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    assert sign_up(hub, email="locked@example.com", organization="Locks").status_code == 302
    link = link_of(mailbox[0].wait("locked@example.com", "Activate"))
    assert hub.browser().get(link).status_code == 302

    for _ in range(2):
        r = log_in(hub, "locked@example.com", "Wrong-password-123")
        assert r.status_code == 403 and "Invalid e-mail or password." in text(r)
    r = log_in(hub, "locked@example.com", "Wrong-password-123")
    assert r.status_code == 403 and "Too many failed logins" in text(r)
    r = log_in(hub, "locked@example.com")  # the right password changes nothing
    assert r.status_code == 403 and "Too many failed logins" in text(r)

    # An e-mail with no account answers the same: the lock reveals nothing either.
    answers = [text(log_in(hub, "ghost@example.com", "Wrong-password-123")) for _ in range(3)]
    assert "Invalid e-mail or password." in answers[0]
    assert "Too many failed logins" in answers[2]

    hub.restart()
    r = log_in(hub, "locked@example.com")
    assert r.status_code == 403 and "Too many failed logins" in text(r)


def test_no_secret_reaches_the_hub_log(hub: Hub, mailbox: tuple[Mailbox, int]) -> None:
    log = hub.log_path.read_text(errors="replace")
    assert "Bodo accounts in" in log and "Mail sent to" in log  # the log is the real one
    key = (hub.root / "bodo_accounts.key").read_text().strip()
    secrets = {*SECRETS_USED, key, "Wrong-password-123"}
    for msg in mailbox[0].catcher.messages:
        for link in links(msg):
            query = parse_qs(urlsplit(link).query)
            secrets.update(query.get("token", []))
    found = sorted(s for s in secrets if s in log)
    assert not found, f"secrets in the hub log: {found}"
    assert "allow config" not in log  # no "nobody can log in" warning
