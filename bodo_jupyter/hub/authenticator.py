"""BodoAuthenticator: JupyterHub sign-up, activation by e-mail, login and organisations.

Accounts live in the authenticator's own database (``db_url``); the hub user name is the
lower-cased e-mail, and every login sets the user's hub groups from their organisation
(``bodo-org:<org>``, and ``bodo-org-admin:<org>`` for its admins), which is what the
control plane reads. Only activated accounts get in: ``check_allowed`` asks the database,
so neither ``allow_all`` nor an ``allowed_users`` list is needed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import ChoiceLoader, FileSystemLoader
from jupyterhub.auth import Authenticator
from jupyterhub.utils import url_path_join
from sqlalchemy.engine import make_url
from tornado import web
from traitlets import Bool, Float, Integer, Unicode, default, validate

from bodo_jupyter.contract.hub_groups import check_org_name, org_groups

from . import tokens
from .forms import check_email, check_full_name
from .handlers import HANDLERS
from .keys import load_or_create_key
from .passwords import Passwords, WeakPassword, check_password
from .smtp import SECURITY, SMTPSettings, send
from .store import AccountStore

TEMPLATES = Path(__file__).parent / "templates"


class BodoAuthenticator(Authenticator):
    """Sign-up with e-mail activation, argon2 passwords, lockout and organisations."""

    manage_groups = Bool(True, config=True, help="""Always on: the organisation reaches
        the control plane as hub groups, set at each login.""")

    db_url = Unicode(config=True, help="""SQLAlchemy URL of the accounts database
        (postgresql+psycopg://... works). Default: bodo_accounts.sqlite beside the hub's
        SQLite database, else in the hub's working folder.""")

    signing_key = Unicode(config=True, help="""Hex key that signs activation and
        invitation links (at least 32 hex digits). Empty: read from (or made in)
        signing_key_file. Also from $BODO_HUB_SIGNING_KEY.""")

    signing_key_file = Unicode(config=True, help="""File (mode 0600) holding the link
        signing key; made on first start. Default: bodo_accounts.key beside the accounts
        database (SQLite) or in the hub's working folder.""")

    public_url = Unicode(config=True, help="""The hub's address as users reach it
        (https://hub.example.com), for links in mails. Default: JupyterHub.public_url,
        else JupyterHub.bind_url when it names a host. Never the request's Host header,
        which a client chooses.""")

    site_name = Unicode("Bodo", config=True, help="The platform's name in mails and pages.")

    terms_url = Unicode("", config=True, help="""Address of the terms and conditions that
        sign-up asks to accept (a link on the form; none if empty).""")

    terms_version = Unicode("1", config=True, help="""Version of the terms, recorded with
        each account's acceptance.""")

    activation_hours = Float(24.0, config=True, help="""How long an activation link works.
        An organisation none of whose members activated in this time is free for the
        next sign-up.""")

    invitation_days = Float(7.0, config=True, help="How long an invitation link works.")

    resend_interval = Float(60.0, config=True, help="""Seconds between two mails about one
        account (activation resends, "already registered" notices).""")

    lockout_failures = Integer(5, config=True, help="""Failed logins in a row (per e-mail,
        registered or not) after which the e-mail is locked.""")

    lockout_minutes = Float(15.0, config=True, help="""How long a locked e-mail cannot log
        in, even with the right password. Kept in the database: a restart does not
        unlock.""")

    argon2_time_cost = Integer(3, config=True, help="""argon2id passes. Raising a cost
        upgrades each stored hash at its next login.""")
    argon2_memory_cost = Integer(65536, config=True, help="argon2id memory, in KiB.")
    argon2_parallelism = Integer(4, config=True, help="argon2id lanes.")

    smtp_host = Unicode("localhost", config=True, help="SMTP server for the hub's mails.")
    smtp_port = Integer(25, config=True, help="SMTP port (587 for starttls, 465 for tls).")
    smtp_security = Unicode("none", config=True, help="""none, starttls (upgrade a plain
        connection) or tls (implicit TLS, SMTPS).""")
    smtp_username = Unicode("", config=True, help="SMTP login; empty: no login.")
    smtp_password = Unicode("", config=True, help="""SMTP password. Also from
        $BODO_HUB_SMTP_PASSWORD; never logged.""")
    smtp_timeout = Float(30.0, config=True, help="Seconds for each SMTP exchange.")
    smtp_ca_file = Unicode("", config=True, help="""CA bundle (PEM) that the SMTP server's
        certificate must chain to, for starttls/tls with a private CA; empty: the
        system's. The certificate and host name are always checked.""")
    mail_from = Unicode("bodo@localhost", config=True, help="The From address of mails.")

    initial_admin_email = Unicode("", config=True, help="""E-mail of an admin made at
        start, activated, if no account has it (with initial_admin_organization and a
        password from initial_admin_password_file or $BODO_HUB_ADMIN_PASSWORD).""")
    initial_admin_name = Unicode("Administrator", config=True,
                                 help="Full name of the initial admin.")
    initial_admin_organization = Unicode("", config=True,
                                         help="Organisation of the initial admin.")
    initial_admin_password_file = Unicode("", config=True, help="""File whose first line
        is the initial admin's password (keep it 0600; only read when the account is
        made).""")

    @default("any_allow_config")
    def _allow_config(self) -> bool:
        return True  # check_allowed admits every activated account: nobody is locked out

    @default("signing_key")
    def _key_default(self) -> str:
        return os.environ.get("BODO_HUB_SIGNING_KEY", "")

    @default("smtp_password")
    def _smtp_password_default(self) -> str:
        return os.environ.get("BODO_HUB_SMTP_PASSWORD", "")

    @validate("manage_groups")
    def _always_manage_groups(self, proposal: dict[str, Any]) -> bool:
        if not proposal["value"]:
            raise ValueError("BodoAuthenticator manages the hub groups of organisations;"
                             " manage_groups cannot be turned off")
        return True

    @validate("smtp_security")
    def _check_security(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in SECURITY:
            raise ValueError(f"smtp_security is one of {', '.join(SECURITY)}")
        return str(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: AccountStore | None = None
        self.key = b""
        self._hub_public_url = ""
        self._mail_tasks: set[asyncio.Future[None]] = set()
        #: How a mail is sent (blocking, run in a thread): SMTP, as configured.
        self.sender: Callable[[SMTPSettings, EmailMessage], None] = send

    # -- start ---------------------------------------------------------------------------

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        """The pages of sign-up, activation and invitations, and the login page.

        The hub calls this once at start, after its templates are set up: this is where
        the database is opened, the key loaded, the initial admin made, and this
        package's templates put behind the hub's own (so a site can override them)."""
        self._setup(app)
        for key in ("jinja2_env", "jinja2_env_sync"):
            env = app.tornado_settings.get(key)
            if env is not None and isinstance(env.loader, ChoiceLoader):
                env.loader.loaders.append(FileSystemLoader(str(TEMPLATES)))
        return HANDLERS

    def _hub_folder(self, app: Any) -> Path:
        url = make_url(getattr(app, "db_url", "") or "sqlite:///jupyterhub.sqlite")
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).resolve().parent
        return Path.cwd()

    def _setup(self, app: Any) -> None:
        folder = self._hub_folder(app)
        db_url = self.db_url or f"sqlite:///{folder / 'bodo_accounts.sqlite'}"
        if self.signing_key:
            self.key = bytes.fromhex(self.signing_key)
            if len(self.key) < 16:
                raise ValueError("BodoAuthenticator.signing_key needs at least 32 hex digits")
        else:
            key_file = self.signing_key_file
            if not key_file:
                u = make_url(db_url)
                base = Path(str(u.database)).resolve().parent if (
                    u.get_backend_name() == "sqlite" and u.database) else folder
                key_file = str(base / "bodo_accounts.key")
            self.key = load_or_create_key(Path(key_file))
        self.store = AccountStore(db_url, Passwords(self.argon2_time_cost,
                                                    self.argon2_memory_cost,
                                                    self.argon2_parallelism))
        self._hub_public_url = self._public_url_of(app)
        self.log.info("Bodo accounts in %s; links point to %s", make_url(db_url)
                      .render_as_string(hide_password=True), self._hub_public_url or
                      "the address each request came to (set BodoAuthenticator.public_url)")
        self._make_initial_admin()

    def _public_url_of(self, app: Any) -> str:
        for url in (self.public_url, getattr(app, "public_url", ""),
                    getattr(app, "bind_url", "")):
            if url and urlsplit(url).hostname:
                parts = urlsplit(url)
                return f"{parts.scheme}://{parts.netloc}"
        return ""

    def _make_initial_admin(self) -> None:
        if not self.initial_admin_email:
            return
        email = check_email(self.initial_admin_email)
        org = check_org_name(self.initial_admin_organization)
        name = check_full_name(self.initial_admin_name)
        assert self.store is not None
        if self.store.member(email) is not None:
            return
        if self.initial_admin_password_file:
            lines = Path(self.initial_admin_password_file).read_text().splitlines()
            password = lines[0] if lines else ""
        else:
            password = os.environ.get("BODO_HUB_ADMIN_PASSWORD", "")
        if not password:
            raise ValueError("BodoAuthenticator.initial_admin_email is set but no password:"
                             " set initial_admin_password_file or $BODO_HUB_ADMIN_PASSWORD")
        try:
            check_password(password, email=email, names=(name, org))
        except WeakPassword as e:
            raise ValueError(f"the initial admin's password is too weak: {e}") from None
        if self.store.ensure_admin(email, name, org, password, self.terms_version):
            self.log.info("Made the initial admin %s of organisation %s", email, org)

    # -- URLs and mail ---------------------------------------------------------------

    def base_url(self, handler: web.RequestHandler) -> str:
        """The hub's public address (scheme://host[:port]) for links in mails."""
        if self._hub_public_url:
            return self._hub_public_url
        return f"{handler.request.protocol}://{handler.request.host}"

    def page_url(self, handler: Any, path: str, **query: str) -> str:
        url = self.base_url(handler) + url_path_join(handler.hub.base_url, path)
        return url + ("?" + urlencode(query) if query else "")

    def activation_link(self, handler: Any, account_id: int, nonce: str) -> str:
        token = tokens.sign(self.key, tokens.ACTIVATION, {"a": account_id, "n": nonce},
                            time.time() + self.activation_hours * 3600)
        return self.page_url(handler, "bodo/activate", token=token)

    def invitation_link(self, handler: Any, invitation_id: str) -> str:
        token = tokens.sign(self.key, tokens.INVITATION, {"i": invitation_id},
                            time.time() + self.invitation_days * 86400)
        return self.page_url(handler, "bodo/signup", token=token)

    def read_token(self, purpose: str, token: str) -> dict[str, Any]:
        return tokens.verify(self.key, purpose, token, time.time())

    @property
    def smtp(self) -> SMTPSettings:
        return SMTPSettings(self.smtp_host, self.smtp_port, self.smtp_security,
                            self.smtp_username, self.smtp_password, self.smtp_timeout,
                            self.smtp_ca_file)

    def send_later(self, msg: EmailMessage) -> None:
        """Send off the request path; a failure is logged (no secrets) and the person can
        ask again (resend page, new invitation)."""
        fut = asyncio.ensure_future(asyncio.to_thread(self.sender, self.smtp, msg))
        self._mail_tasks.add(fut)
        to, subject = msg["To"], msg["Subject"]

        def done(f: asyncio.Future[None]) -> None:
            self._mail_tasks.discard(f)
            e = f.exception()
            if e is None:
                self.log.info("Mail sent to %s: %s", to, subject)
            else:
                self.log.error("Mail to %s (%s) not sent: %s: %s (via %s:%s)", to, subject,
                               type(e).__name__, e, self.smtp_host, self.smtp_port)

        fut.add_done_callback(done)

    @property
    def lock_for(self) -> timedelta:
        return timedelta(minutes=self.lockout_minutes)

    @property
    def activation_window(self) -> timedelta:
        return timedelta(hours=self.activation_hours)

    @property
    def invitation_ttl(self) -> timedelta:
        return timedelta(days=self.invitation_days)

    @property
    def resend_after(self) -> timedelta:
        return timedelta(seconds=self.resend_interval)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A store call in a thread: SQL and argon2 block."""
        assert self.store is not None, "the hub has not called get_handlers yet"
        return await asyncio.to_thread(fn, *args)

    # -- login ------------------------------------------------------------------------

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        """E-mail and password -> the hub user (the lower-cased e-mail) and its groups.

        An unknown e-mail and a wrong password get the same answer after the same
        argon2 work; a locked e-mail says so whether or not it is registered.
        """
        assert self.store is not None
        try:
            email = check_email(data.get("username", ""))
        except ValueError:
            email = data.get("username", "").strip().lower()[:254]
        password = data.get("password", "")
        result = await self.run(self.store.login, email, password, self.lockout_failures,
                                self.lock_for)
        if result.kind == "locked":
            raise web.HTTPError(403, f"Too many failed logins for this e-mail: try again in"
                                     f" {self.lockout_minutes:g} minutes.")
        if result.kind == "inactive":
            raise web.HTTPError(403, "This account is not activated yet: follow the link in"
                                     " the activation mail, or ask for a new one on the"
                                     " sign-up page.")
        if result.kind != "ok":
            raise web.HTTPError(403, "Invalid e-mail or password.")
        return {"name": email, "groups": org_groups(result.org, result.admin)}

    async def check_allowed(self, username: str, authentication: Any = None) -> bool:
        """Exactly the activated accounts, whatever else is configured."""
        if self.store is None:
            return False
        member = await self.run(self.store.member, username)
        return member is not None and member.active

    def normalize_username(self, username: str) -> str:
        return username.strip().lower()
